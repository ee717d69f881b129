from tests.conftest import page_login


def test_admin_signs_in_and_sees_home(client, world):
    resp = page_login(client, "alpha", "admin")
    assert resp.status_code == 302
    home = client.get("/t/alpha/")
    assert home.status_code == 200
    assert "龙窝镇" in home.get_data(as_text=True)
