from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from erp.orders.schemas import Channel, OrderOut
from erp.returns.schemas import RepairOut, ReturnOut
from erp.suppliers.schemas import Scorecard


class OrderCaseOut(OrderOut):
    """The order status view with everything that followed it: returns (with their replacement orders,
    repairs and refunds) and walk-in repairs, each with its state and promise."""

    returns: list[ReturnOut]
    repairs: list[RepairOut] = Field(description="Walk-in repairs of units bought with this order.")
    replacement_for: str | None = Field(description="The return or repair this order replaces units for.")


class Rate(BaseModel):
    """A share: `numerator` of `denominator`, and `rate` = numerator / denominator rounded to 4 places, null
    when the denominator is 0 (nothing to count is no figure, not 0 %)."""

    numerator: int
    denominator: int
    rate: float | None


class AgeBucket(BaseModel):
    days: str = Field(description="The bucket's label, e.g. `8-14`.")
    min_days: int
    max_days: int | None = Field(description="Null: no upper bound.")
    lines: int


class BackorderFigures(BaseModel):
    lines: int = Field(description="Order lines with units backordered now.")
    units: int
    oldest_days: int | None = Field(description="Days since the oldest of their orders was placed.")
    average_age_days: float | None
    age_buckets: list[AgeBucket]


class TouchBucket(BaseModel):
    touches: int
    more: bool = Field(description="True for the last bucket: orders with more contacts than the threshold.")
    orders: int


class TouchFigures(BaseModel):
    orders: int = Field(description="Orders placed in the period.")
    touches: int = Field(description="Their contacts, whenever logged.")
    average_per_order: float | None
    threshold: int
    orders_above_threshold: int
    histogram: list[TouchBucket] = Field(description="Orders by contacts: 0, 1, ... threshold, then more.")


class ReturnRate(BaseModel):
    key: str = Field(description="The product's sku, or the supplier's code.")
    units_shipped: int
    units_returned: int
    rate: float | None


class ReturnFigures(BaseModel):
    overall: Rate
    by_product: list[ReturnRate] = Field(description="The 50 products with most units returned.")
    by_supplier: list[ReturnRate] = Field(description="By each product's preferred supplier.")


class RepairFigures(BaseModel):
    completed: int
    average_days: float | None
    longest_days: float | None


class PickFigures(BaseModel):
    picks_in_full: Rate = Field(description="Pick-list lines worked, and of those picked with nothing short.")
    short_pick_lines: int
    short_pick_units: int
    pack_verification: Rate = Field(description="Pack verifications, and of those the scans that matched.")
    pack_mismatches: int


class DailyShipping(BaseModel):
    day: date
    lines_shipped: int
    on_time: Rate
    promise_accuracy: Rate


class ServiceFigures(BaseModel):
    """The figures of DOMAIN.md section 6; see the operation's description for what each one counts."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period_from": "2026-10-27", "period_to": "2026-11-25", "channel": "phone",
        "fill_rate": {"numerator": 180, "denominator": 200, "rate": 0.9},
        "on_time_shipment": {"numerator": 95, "denominator": 100, "rate": 0.95},
        "promise_accuracy": {"numerator": 90, "denominator": 100, "rate": 0.9},
        "open_backorders": {"lines": 3, "units": 7, "oldest_days": 12, "average_age_days": 6.33, "age_buckets": [
            {"days": "0-7", "min_days": 0, "max_days": 7, "lines": 2},
            {"days": "8-14", "min_days": 8, "max_days": 14, "lines": 1},
            {"days": "15-30", "min_days": 15, "max_days": 30, "lines": 0},
            {"days": "31-60", "min_days": 31, "max_days": 60, "lines": 0},
            {"days": "61+", "min_days": 61, "max_days": None, "lines": 0}]},
        "touches": {"orders": 120, "touches": 60, "average_per_order": 0.5, "threshold": 3,
                    "orders_above_threshold": 2, "histogram": [
                        {"touches": 0, "more": False, "orders": 80}, {"touches": 1, "more": False, "orders": 30},
                        {"touches": 2, "more": False, "orders": 6}, {"touches": 3, "more": False, "orders": 2},
                        {"touches": 4, "more": True, "orders": 2}]},
        "first_contact_resolution": {"numerator": 70, "denominator": 75, "rate": 0.9333},
        "returns": {"overall": {"numerator": 4, "denominator": 250, "rate": 0.016},
                    "by_product": [{"key": "LAP-001", "units_shipped": 40, "units_returned": 3, "rate": 0.075}],
                    "by_supplier": [{"key": "ACME", "units_shipped": 200, "units_returned": 4, "rate": 0.02}]},
        "repair_turnaround": {"completed": 2, "average_days": 2.5, "longest_days": 3.1},
        "pick_accuracy": {"picks_in_full": {"numerator": 198, "denominator": 200, "rate": 0.99},
                          "short_pick_lines": 2, "short_pick_units": 3,
                          "pack_verification": {"numerator": 100, "denominator": 101, "rate": 0.9901},
                          "pack_mismatches": 1},
        "supplier_scores": [{"supplier": "ACME", "period_from": "2026-10-27", "period_to": "2026-11-25",
                             "lines_due": 4, "on_time_rate": 0.75, "fill_rate": 1.0, "defect_rate": 0.01,
                             "promised_lead_time_days": 7.0, "actual_lead_time_days": 7.5}],
        "daily": [{"day": "2026-11-25", "lines_shipped": 4,
                   "on_time": {"numerator": 4, "denominator": 4, "rate": 1.0},
                   "promise_accuracy": {"numerator": 3, "denominator": 4, "rate": 0.75}}],
    }]})

    period_from: date
    period_to: date
    channel: Channel | None
    fill_rate: Rate = Field(description="Lines of orders placed in the period, and of those the lines fully "
                                        "reserved at order time.")
    on_time_shipment: Rate = Field(description="Lines whose last unit shipped in the period, and of those the "
                                               "lines shipped by their promised date.")
    promise_accuracy: Rate = Field(description="The same lines, and of those the lines shipped by the date "
                                               "first promised.")
    open_backorders: BackorderFigures = Field(description="Now, whatever the period.")
    touches: TouchFigures
    first_contact_resolution: Rate = Field(description="Resolved orders (shipped, delivered or cancelled) placed "
                                                       "in the period, and of those the orders with at most one "
                                                       "contact.")
    returns: ReturnFigures
    repair_turnaround: RepairFigures = Field(description="Repair orders completed in the period.")
    pick_accuracy: PickFigures = Field(description="Of orders placed in the period.")
    supplier_scores: list[Scorecard] = Field(description="Every supplier's scorecard for the period.")
    daily: list[DailyShipping] = Field(description="Each day of the period: lines whose last unit shipped "
                                                   "that day, on time and by the first promise.")
