"""Template writes against DynamoDB (moto): versions move by one, and a write that lost a race is
refused rather than overwriting the other."""

from __future__ import annotations

import pytest

from pdfjobs import errors
from pdfjobs.records import Principal
from pdfjobs.repositories.templates import TemplateRepository
from pdfjobs.services.templates import TemplateService

BODY = {"name": "policy", "fields": [{"name": "policyNumber", "keywords": ["Policy No"]}]}


def test_replace_bumps_the_version_and_a_stale_write_is_a_conflict(principal: Principal) -> None:
    service = TemplateService()
    created = service.create(principal, {**BODY, "name": "race"})
    assert created["version"] == 1
    replaced = service.replace(principal, "race", {"fields": [{"name": "other"}]})
    assert replaced["version"] == 2 and [f["name"] for f in replaced["fields"]] == ["other"]

    repository = TemplateRepository()
    stale = repository.get(principal.tenant_id, "race")
    assert stale is not None
    # Another writer got in after `stale` was read: a write expecting version 2 must not land.
    assert service.replace(principal, "race", {"fields": [{"name": "third"}]})["version"] == 3
    assert repository.replace(stale.model_copy(update={"version": 3}), expected_version=2) is False
    assert [f["name"] for f in service.get(principal, "race")["fields"]] == ["third"]


def test_the_service_reports_a_lost_race_as_a_conflict(principal: Principal, monkeypatch: pytest.MonkeyPatch) -> None:
    service = TemplateService()
    service.create(principal, {**BODY, "name": "lost-race"})
    real_get = TemplateRepository.get
    raced = []

    def get_then_someone_else_writes(self: TemplateRepository, tenant_id: str, name: str):  # type: ignore[no-untyped-def]
        found = real_get(self, tenant_id, name)
        if not raced:  # between this read and our write, another client replaces the template
            raced.append(True)
            service.replace(principal, "lost-race", {"fields": [{"name": "theirs"}]})
        return found

    monkeypatch.setattr(TemplateRepository, "get", get_then_someone_else_writes)
    with pytest.raises(errors.TemplateConflict):
        service.replace(principal, "lost-race", {"fields": [{"name": "ours"}]})
    monkeypatch.undo()
    assert [f["name"] for f in service.get(principal, "lost-race")["fields"]] == ["theirs"]
