"""The churn label on a hand-made store: population, horizon edges, cancellations, local dates."""

from __future__ import annotations

from datetime import date

from retentio.models.churn.label import churn_labels, data_end, latest_observable_cutoff

CUTOFF = date(2024, 4, 1)  # horizon of 30 days: orders dated 2024-04-01 .. 2024-04-30 (Moscow) count


def order(order_id: str, customer: str, at: str, status: str = "completed") -> dict[str, str]:
    return {
        "order_id": order_id,
        "customer_id": customer,
        "ordered_at": at,
        "total": "100.00",
        "status": status,
    }


def test_label_follows_the_definition(csv_store) -> None:  # type: ignore[no-untyped-def]
    orders = [
        order("a1", "stays", "2024-03-01T10:00:00Z"),
        order("a2", "stays", "2024-04-10T10:00:00Z"),
        order("b1", "leaves", "2024-03-15T10:00:00Z"),
        # 2024-05-01 local is the first day *after* the 30-day horizon.
        order("c1", "back_too_late", "2024-02-01T10:00:00Z"),
        order("c2", "back_too_late", "2024-05-01T10:00:00Z"),
        # A cancelled order is no order.
        order("d1", "cancelled_only", "2024-03-20T10:00:00Z"),
        order("d2", "cancelled_only", "2024-04-05T10:00:00Z", status="cancelled"),
        # 22:30 UTC on 31 March is 01:30 on 1 April in Moscow: inside the horizon, not before the cutoff.
        order("e1", "midnight", "2024-03-10T10:00:00Z"),
        order("e2", "midnight", "2024-03-31T22:30:00Z"),
        # First order after the cutoff: not in the population.
        order("f1", "newcomer", "2024-04-02T10:00:00Z"),
        # Only a cancelled order before the cutoff: not a buyer yet.
        order("g1", "never_bought", "2024-03-02T10:00:00Z", status="cancelled"),
        order("z1", "stays", "2024-06-30T10:00:00Z"),
    ]
    _, tables = csv_store({"orders": orders})
    labels = churn_labels(tables, CUTOFF, 30).to_pandas().set_index("customer_id")["churned"].to_dict()
    assert labels == {"stays": 0, "leaves": 1, "back_too_late": 1, "cancelled_only": 1, "midnight": 0}
    assert data_end(tables) == date(2024, 7, 1)
    assert latest_observable_cutoff(tables, 30) == date(2024, 6, 1)
