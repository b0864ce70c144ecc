"""Import every model so the metadata (and Alembic) sees all tables."""

from plugin.audiences.models import Audience, AudienceRun
from plugin.automations.models import Automation, AutomationRun
from plugin.catalogue.models import Category, Product, ProductCategory
from plugin.codes.models import (
    CheckoutAnswer,
    Code,
    CodeAttempt,
    CodeBlock,
    Discount,
    Redemption,
)
from plugin.customers.models import Customer, CustomerProduct, CustomerTag, Order, OrderLine
from plugin.events.models import OutboxEvent
from plugin.groups.models import Group
from plugin.jobs.models import Job
from plugin.rules.models import (
    BenefitProgramme,
    BenefitTier,
    Bundle,
    BundleItem,
    GiftRule,
    PriceRule,
)
from plugin.segments.models import Segment, SegmentMember
from plugin.shops.models import ProcessedEvent, Shop

__all__ = [
    "Audience",
    "AudienceRun",
    "Automation",
    "AutomationRun",
    "BenefitProgramme",
    "BenefitTier",
    "Bundle",
    "BundleItem",
    "Category",
    "GiftRule",
    "PriceRule",
    "Product",
    "ProductCategory",
    "CheckoutAnswer",
    "Code",
    "CodeAttempt",
    "CodeBlock",
    "Discount",
    "Job",
    "Redemption",
    "Customer",
    "CustomerProduct",
    "CustomerTag",
    "Group",
    "Order",
    "OutboxEvent",
    "OrderLine",
    "ProcessedEvent",
    "Segment",
    "SegmentMember",
    "Shop",
]
