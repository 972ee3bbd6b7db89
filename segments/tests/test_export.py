"""Export members CSV: the segment's customers now, streamed through the orders exporter, formula-safe,
recorded as an export of customers."""

import csv
import io

import pytest
from django.urls import reverse

from orders.export import CSVStream
from orders.models import Export
from orders.tests.factories import CustomerFactory, make_order
from segments import services
from segments.export import MEMBER_FIELDS, member_stream

pytestmark = pytest.mark.django_db


def rows_of(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


@pytest.fixture
def big_spenders():
    return services.segment_create(
        name="Big", type="auto-update", filter={"summary.orders.total_amount": {"conditions": {"$more_than": [1000]}}}
    )


def test_members_are_exported_biggest_spenders_first_with_their_summary(client, manager, big_spenders):
    ann = CustomerFactory(name="Ann", email="ann@x.example", metadata={"tier": "gold"})
    bob = CustomerFactory(name='=HYPERLINK("http://evil")', email="bob@x.example")
    CustomerFactory(name="Nobody")
    make_order(customer=ann, status="PAID", items=[], amount=5000)
    make_order(customer=bob, status="FULFILLED", items=[], amount=3000)
    client.force_login(manager)
    response = client.post(reverse("segments:export", args=[big_spenders.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="segment-{big_spenders.pk}-')
    rows = rows_of(b"".join(response.streaming_content))
    assert list(rows[0]) == list(MEMBER_FIELDS)
    assert [row["id"] for row in rows] == [ann.pk, bob.pk]
    assert rows[0]["orders_total_amount"] == "5000" and rows[0]["orders_total_count"] == "1"
    assert rows[0]["metadata"] == '{"tier": "gold"}'
    assert rows[0]["last_order_date"].endswith("Z")
    assert rows[1]["name"] == '\'=HYPERLINK("http://evil")'  # formula-escaped
    export = Export.objects.get(pk=response["X-Export-Id"])
    assert export.exported_object == "customer" and export.status == "DONE" and export.row_count == 2
    assert export.filters == f"segment={big_spenders.pk}"


def test_a_static_segment_exports_its_list(client, admin_user):
    a, b = CustomerFactory(), CustomerFactory()
    segment = services.segment_create(name="S", type="static", customers=[a.pk, b.pk])
    client.force_login(admin_user)
    rows = rows_of(b"".join(client.post(reverse("segments:export", args=[segment.pk])).streaming_content))
    assert {row["id"] for row in rows} == {a.pk, b.pk}


def test_export_needs_the_export_permission_and_a_post(client, viewer, manager, big_spenders):
    url = reverse("segments:export", args=[big_spenders.pk])
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    detail = client.get(reverse("segments:detail", args=[big_spenders.pk])).content.decode()
    assert 'id="segment-export"' not in detail
    client.force_login(manager)
    assert 'id="segment-export"' in client.get(reverse("segments:detail", args=[big_spenders.pk])).content.decode()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == reverse("segments:detail", args=[big_spenders.pk])
    assert not Export.objects.exists()


def test_both_export_paths_write_the_same_bytes(big_spenders):
    from django.db import connection

    for n in range(5):
        customer = CustomerFactory(name=f'c{n}, "quoted"', metadata={"n": n, "é": "x"})
        make_order(customer=customer, status="PAID", items=[], amount=2000 + n)
    python = b"".join(
        CSVStream(member_stream(big_spenders).queryset, member_stream(big_spenders).columns, method="python")
    )
    assert len(rows_of(python)) == 5
    if connection.vendor == "postgresql":
        copy = b"".join(
            CSVStream(member_stream(big_spenders).queryset, member_stream(big_spenders).columns, method="copy")
        )
        assert copy == python
