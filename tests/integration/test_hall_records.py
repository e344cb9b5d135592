"""``hall_published``: a body's hall information, signed by the body or the region root, through
a real ledger (docs/keys.md §3), and the public page and CLI that show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.keyfiles import write_key
from api.cli import main
from ledger.admin import RegistryClerk
from ledger.errors import MalformedEncoding, RegistryError
from ledger.keys.organizations import HALL_FIELDS
from ledger.workflow import CaseWorkflow
from tests.support.api_node import api_node
from tests.support.world import World, make_memory_world

HALL = {
    "body_id": "510104-RS",
    "address": "成都市锦江区东大街下东大街段 99 号",
    "hours": "周一至周五 9:00-12:00，13:30-17:30（法定节假日除外）",
    "phone": "028-12345",
    "appointment": "",
    "notice": "请携带身份证原件；\n代办须持委托书。",
}


@pytest.fixture
def world() -> World:
    return make_memory_world(workflow=CaseWorkflow())


def test_a_body_publishes_its_hall_and_a_later_record_replaces_it(world: World) -> None:
    world.clerk.append(world.body_keys["510104-RS"], "hall_published", HALL)
    hall = world.app.registry.halls["510104-RS"]
    assert (hall.address, hall.appointment, hall.notice) == (
        HALL["address"],
        "",
        HALL["notice"],
    )
    moved = {**HALL, "address": "成都市锦江区新址 1 号"}
    world.clerk.append(world.root, "hall_published", moved)  # the region root may, too
    assert world.app.registry.halls["510104-RS"].address == "成都市锦江区新址 1 号"


def test_another_bodys_key_or_an_unknown_body_is_not_entitled(world: World) -> None:
    with pytest.raises(RegistryError) as other:
        world.clerk.append(world.body_keys["510000-ZWFW"], "hall_published", HALL)
    assert (other.value.reason, other.value.field) == ("not_entitled", "kid")
    with pytest.raises(RegistryError) as unknown:
        world.clerk.append(world.root, "hall_published", {**HALL, "body_id": "510999-XX"})
    assert (unknown.value.reason, unknown.value.field) == ("not_entitled", "body.body_id")
    assert world.app.registry.halls == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": 12345}, "body.phone"),  # a number where the spec says text
        ({"hours": True}, "body.hours"),
        ({"notice": "须" * (HALL_FIELDS["notice"] + 1)}, "body.notice"),
        ({"address": None}, "body.address"),
    ],
)
def test_a_field_that_is_not_text_or_too_long_is_malformed(
    world: World, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(MalformedEncoding) as refused:
        world.clerk.append(world.body_keys["510104-RS"], "hall_published", {**HALL, **change})
    assert refused.value.field == field
    assert world.app.registry.halls == {}


def test_a_missing_or_extra_field_is_malformed(world: World) -> None:
    without = {k: v for k, v in HALL.items() if k != "appointment"}
    with pytest.raises(MalformedEncoding) as missing:
        world.clerk.append(world.root, "hall_published", without)
    assert missing.value.field == "body.appointment"
    with pytest.raises(MalformedEncoding) as extra:
        world.clerk.append(world.root, "hall_published", {**HALL, "email": "a@b.cn"})
    assert extra.value.field == "body.email"


def test_the_public_page_shows_what_was_published_and_nothing_more(tmp_path: Path) -> None:
    with api_node(tmp_path) as node:
        empty = node.client.get("/pages/halls/510000")
        assert empty.status_code == 200 and "本地区尚无部门公布服务大厅信息" in empty.text
        clerk = RegistryClerk(node.services.ledger, "510000")
        clerk.append(node.world.body_keys["510104-RS"], "hall_published", HALL)
        answer = node.client.get("/pages/halls/510000")
        assert answer.status_code == 200
        assert "成都市锦江区东大街下东大街段 99 号" in answer.text
        assert "请携带身份证原件；<br>代办须持委托书。" in answer.text
        appointment = answer.text.split("<dt>预约方式</dt><dd>", 1)[1].split("</dd>", 1)[0]
        assert appointment == '<span class="unpublished">未公布</span>'
        assert "另有" in answer.text  # the region's other bodies have published nothing
        assert node.client.get("/pages/halls/999999").status_code == 404
        item = node.client.get("/pages/catalog/510000/1/5").text
        assert 'href="/pages/halls/510000"' in item


def test_the_cli_publishes_with_the_bodys_key_and_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with api_node(tmp_path) as node:
        data_dir = node.world.settings.data_dir  # type: ignore[union-attr]
        key_file = tmp_path / "body.key"
        write_key(key_file, node.world.body_keys["510104-RS"])
        publish = ["hall", "publish", "--data-dir", str(data_dir), "--signer-key", str(key_file)]
        fields = ["--address", HALL["address"], "--hours", HALL["hours"]]
        code = main([*publish, "--body-id", "510104-RS", *fields])
        assert code == 0, capsys.readouterr().err
        capsys.readouterr()
        assert main(["hall", "show", "--data-dir", str(data_dir), "--json"]) == 0
        [shown] = json.loads(capsys.readouterr().out)
        assert (shown["body_id"], shown["address"], shown["phone"]) == (
            "510104-RS",
            HALL["address"],
            "",
        )
        unknown = main([*publish, "--body-id", "510999-XX"])
        assert unknown == 64 and "no body 510999-XX" in capsys.readouterr().err


def test_the_checks_answer_in_the_order_docs_keys_md_gives(world: World) -> None:
    """Signer before body, body before fields, fields in the table's order (docs/keys.md,
    "Hall information"): the first failure answers."""
    both_bad = {**HALL, "phone": 1, "notice": 2}
    with pytest.raises(RegistryError) as signer:
        world.clerk.append(world.body_keys["510000-ZWFW"], "hall_published", both_bad)
    assert signer.value.field == "kid"
    with pytest.raises(RegistryError) as unknown:
        world.clerk.append(world.root, "hall_published", {**both_bad, "body_id": ""})
    assert unknown.value.field == "body.body_id"
    with pytest.raises(MalformedEncoding) as first_field:
        world.clerk.append(world.root, "hall_published", both_bad)
    assert first_field.value.field == "body.phone"
    with pytest.raises(MalformedEncoding) as not_text:
        world.clerk.append(world.root, "hall_published", {**HALL, "body_id": 7})
    assert not_text.value.field == "body.body_id"
