"""The events Klantbeeld reacts to, one home for each name: those of Segment's spec
(the e-commerce spec v2 and the B2B SaaS spec) that the shop sends, and our own.

Compare an event's name with these, never with a string written out again.
"""

# Segment's e-commerce spec.
ORDER_COMPLETED = "Order Completed"
PRODUCT_VIEWED = "Product Viewed"
PRODUCT_ADDED = "Product Added"
PRODUCT_REMOVED = "Product Removed"
CART_VIEWED = "Cart Viewed"
CHECKOUT_STARTED = "Checkout Started"
# Segment's B2B SaaS spec (a customer account).
SIGNED_UP = "Signed Up"
ACCOUNT_CLOSED = "Account Closed"
# Klantbeeld's own: a customer answered a survey (surveys app), so campaigns and
# selections can react to it like any event.
SURVEY_ANSWERED = "Survey Answered"

# Events that change what is in the basket (the abandoned-basket mail's trigger).
BASKET_EVENTS = (PRODUCT_ADDED, PRODUCT_REMOVED, CHECKOUT_STARTED, CART_VIEWED)
# The events the selection builder offers by name (any other name can be typed).
COMMON_EVENTS = (
    ORDER_COMPLETED,
    PRODUCT_VIEWED,
    PRODUCT_ADDED,
    PRODUCT_REMOVED,
    CHECKOUT_STARTED,
    ACCOUNT_CLOSED,
    SIGNED_UP,
    SURVEY_ANSWERED,
)
