

def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_200_when_database_and_redis_answer(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"]["database"] == {"ok": True, "detail": app.extensions["sqlalchemy"].engine.dialect.name}
    assert response.json["checks"]["redis"]["ok"] is True


def test_readyz_is_503_and_names_redis_when_redis_is_unreachable(database_url, other_app):
    app = other_app(database_url, "redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["redis"]
    assert response.json["checks"]["database"]["ok"] is True


def test_readyz_is_503_and_names_the_database_when_it_is_unreachable(redis_url, tmp_path, other_app):
    app = other_app(f"sqlite:///{tmp_path}/missing-dir/nothing.sqlite3", redis_url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["database"]
