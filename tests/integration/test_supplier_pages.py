"""The supplier page's own actions: link an unmapped SKU to a product, set a figure by hand."""
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, StockChange, Supplier, SupplierOffer, SupplierStock
from app.services import demo
from tests.helpers import csrf_token_from, login


def signed_in(client, role):
    demo.seed()
    login(client, f"{role}@example.com", demo.DEMO_PASSWORD)
    token = csrf_token_from(client.get("/suppliers/ACME").text)
    return {"HX-Request": "true", "HX-Target": "unmapped-skus", "X-CSRFToken": token}


def add_unmapped(code="ACME", sku="ACM-NEW-9") -> None:
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    db.session.add(SupplierStock(supplier_id=supplier.id, supplier_sku=sku, on_hand=12, status="in_stock"))
    db.session.commit()


def test_an_admin_links_an_unmapped_sku_to_a_product(client):
    headers = signed_in(client, "admin")
    add_unmapped()
    assert "ACM-NEW-9" in client.get("/suppliers/ACME").text
    response = client.post("/suppliers/ACME/unmapped/link", headers=headers,
                           data={"supplier_sku": "ACM-NEW-9", "product_sku": "KIT-00001", "cost": "7.25"})
    assert response.status_code == 200 and "ACM-NEW-9 now supplies KIT-00001." in response.text
    assert "ACM-NEW-9</code>" not in response.text.split("Set a figure by hand")[0]
    offer = db.session.scalars(select(SupplierOffer).where(SupplierOffer.supplier_sku == "ACM-NEW-9")).one()
    assert str(offer.cost) == "7.25" and offer.product.sku == "KIT-00001"
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "offer.linked")).one().actor_label == "admin@example.com"


def test_linking_to_an_unknown_product_or_a_bad_cost_says_why(client):
    headers = signed_in(client, "admin")
    add_unmapped()
    unknown = client.post("/suppliers/ACME/unmapped/link", headers=headers,
                          data={"supplier_sku": "ACM-NEW-9", "product_sku": "NOPE-1", "cost": "1"})
    assert unknown.status_code == 422 and "no product with the SKU 'NOPE-1'" in unknown.text
    bad = client.post("/suppliers/ACME/unmapped/link", headers=headers,
                      data={"supplier_sku": "ACM-NEW-9", "product_sku": "KIT-00001", "cost": "a lot"})
    assert bad.status_code == 422 and "is not an amount" in bad.text


def test_ops_set_a_figure_by_hand_logged_as_manual(client):
    headers = signed_in(client, "ops")
    response = client.post("/suppliers/ACME/stock", headers=headers, data={"supplier_sku": "ACM000018", "quantity": "3"})
    assert response.status_code == 200 and "3 on hand, set by hand" in response.text
    row = db.session.scalars(select(SupplierStock).where(SupplierStock.supplier_sku == "ACM000018")).one()
    assert (row.on_hand, row.status) == (3, "low_stock")
    assert db.session.scalars(select(StockChange).where(StockChange.source == "manual")).one().new_on_hand == 3
    refused = client.post("/suppliers/ACME/stock", headers=headers, data={"supplier_sku": "ACM000018", "quantity": "-1"})
    assert refused.status_code == 422 and "cannot be negative" in refused.text
