"""`parcours serve`: the decision service, over real HTTP on 127.0.0.1 (uvicorn in a thread
on a free port, httpx as the client); the decisions and rejections it gives are those of
`parcours decide` and `parcours explain` on the same episodes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from parcours.compiler.backends.python.loader import load_generated
from parcours.compiler.cli import main
from parcours.compiler.pipeline import analyse, compile_policy, load_policy
from parcours.compiler.tools.service import BLOCK, Limits, Served, create_app, served_module
from parcours.compiler.tools.service.inputs import episode_schema
from parcours.runtime import PolicyMeta

ROOT = Path(__file__).resolve().parents[1]
FRANCE = ROOT / "policies" / "france.parcours"
NHS = ROOT / "policies" / "nhs.parcours"
SAMPLE = ROOT / "policies" / "samples" / "episodes.jsonl"
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
LIMITS = Limits(episode=4_000, batch=2_000_000)


def served(path: Path) -> Served:
    analysis = analyse(path, verify=False)
    assert analysis.program is not None
    return Served(load_policy(path), episode_schema(analysis.program))


class Server:
    """uvicorn serving `app` on a free port of 127.0.0.1, in a thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="critical", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    app = create_app([served(FRANCE), served(NHS)], LIMITS, "test-version")
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def sample_lines(count: int) -> list[str]:
    """The sample's first `count` episodes (the sample again from its start past its end)."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return [lines[i % len(lines)] for i in range(count)]


def cli_decide(*lines: str, sets: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """`parcours decide policies/france.parcours`: (decision lines, stderr)."""
    args = ["decide", str(FRANCE), "-q"] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(main, args, input="".join(line + "\n" for line in lines))
    return result.stdout.splitlines(), result.stderr


def test_health_and_version(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok", "policies": 2}
    version = client.get("/version").json()
    assert version["parcours"] == "test-version"
    assert set(version["policies"]) == {"france", "nhs"}
    assert version["policies"]["france"].startswith("sha256:")


def test_policies_lists_ids_versions_and_declared_shape(client: httpx.Client,
                                                        france: types.ModuleType) -> None:
    listed = {p["id"]: p for p in client.get("/policies").json()["policies"]}
    assert set(listed) == {"france", "nhs"}
    meta: PolicyMeta = france.POLICY
    fr = listed["france"]
    assert fr["version"] == meta.version and fr["currency"] == "EUR"
    assert fr["pathways"] == list(meta.pathways)
    assert [o["name"] for o in fr["outputs"]] == [o.name for o in meta.outputs]
    assert {o["name"]: o["role"] for o in fr["outputs"]}["reimbursed"] == "insurer"
    age = fr["inputs"]["properties"]["patient"]["properties"]["age"]
    assert age == {"type": "integer", "minimum": 0, "maximum": 130,
                   "description": "age in whole years on the day of the visit"}
    assert fr["accumulators"] == [{"name": "participations", "keys": ["patient.id"],
                                   "period": "calendar_year", "adds": "flat_fee",
                                   "used": "participations_used",
                                   "caps": [{"from": "2017-05-01", "cap": "50.00"}]}]
    assert listed["nhs"]["accumulators"] == []


def test_decide_gives_the_decision_of_parcours_decide(client: httpx.Client) -> None:
    lines = sample_lines(20)
    expected, _ = cli_decide(*lines)
    answers = [client.post("/policies/france/decide", content=line, headers=JSON)
               for line in lines]
    assert all(a.status_code == 200 for a in answers)
    assert all(a.headers["content-type"] == "application/json" for a in answers)
    assert [a.text.rstrip("\n") for a in answers] == expected


def test_a_what_if_parameter_is_that_of_parcours_decide_set(client: httpx.Client) -> None:
    lines = sample_lines(30)
    expected, _ = cli_decide(*lines, sets=("penalty_cap_enabled=true",))
    plain, _ = cli_decide(*lines)
    assert expected != plain  # the override changes some decisions
    answers = [client.post("/policies/france/decide", params={"set": "penalty_cap_enabled=true"},
                           content=line, headers=JSON).text.rstrip("\n") for line in lines]
    assert answers == expected
    bad = client.post("/policies/france/decide", params={"set": "penalty_cap_enabled=maybe"},
                      content=lines[0], headers=JSON)
    assert bad.status_code == 400 and "penalty_cap_enabled" in bad.json()["error"]


def test_a_malformed_episode_is_422_naming_the_field_as_the_cli_does(
        client: httpx.Client) -> None:
    episode = json.loads(sample_lines(1)[0])
    episode["patient"]["age"] = "old"
    text = json.dumps(episode)
    answer = client.post("/policies/france/decide", content=text, headers=JSON)
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "patient.age" and body["id"] == episode["id"]
    cli = CliRunner().invoke(main, ["explain", str(FRANCE), "--episode", text])
    assert cli.exit_code == 1
    assert cli.stderr.strip() == f"rejected: {body['rejected']}"
    _, stderr = cli_decide(text)
    assert body["error"] in stderr and "field patient.age" in stderr


def test_missing_and_unknown_fields_and_bad_json(client: httpx.Client) -> None:
    episode = json.loads(sample_lines(1)[0])
    del episode["visit"]["fee"]
    missing = client.post("/policies/france/decide", json=episode)
    assert missing.status_code == 422 and missing.json()["field"] == "visit.fee"
    episode = json.loads(sample_lines(1)[0])
    episode["patient"]["shoe_size"] = 44
    unknown = client.post("/policies/france/decide", json=episode)
    assert unknown.status_code == 422 and "shoe_size" in unknown.json()["rejected"]
    broken = client.post("/policies/france/decide", content=b'{"id": ', headers=JSON)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    array = client.post("/policies/france/decide", content=b"[1]", headers=JSON)
    assert array.status_code == 400
    assert array.json() == {"error": "episode: an episode is a JSON object"}
    twice = client.post("/policies/france/decide", content=b'{"id": "a", "id": "b"}',
                        headers=JSON)
    assert twice.status_code == 422 and "duplicate field id" in twice.json()["rejected"]


def test_a_batch_streams_decisions_and_rejections_in_input_order(client: httpx.Client) -> None:
    lines = sample_lines(BLOCK + 100)  # more than one block: line numbers carry on
    bad = BLOCK + 37
    lines[bad - 1] = '{"id": "broken", "date": "yesterday"}'
    lines[2] = "not json"
    body = "".join(line + "\n" for line in lines)
    expected, stderr = cli_decide(*lines)
    with client.stream("POST", "/policies/france/decide", content=body,
                       headers=NDJSON) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        records = [json.loads(line) for line in answer.iter_lines() if line]
    assert len(records) == len(lines)
    rejected = [r for r in records if "rejected" in r]
    assert [r["line"] for r in rejected] == [3, bad]
    assert [f"rejected: {r['rejected']}" for r in rejected] == stderr.splitlines()
    decided = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records
               if "rejected" not in r]
    assert decided == expected


def test_explain_gives_the_trace(client: httpx.Client) -> None:
    line = sample_lines(1)[0]
    answer = client.post("/policies/france/explain", content=line, headers=JSON)
    assert answer.status_code == 200
    body = answer.json()
    cli = CliRunner().invoke(main, ["explain", str(FRANCE), "--episode", line,
                                    "--format", "json"])
    assert body == json.loads(cli.stdout)
    assert body["trace"][0]["name"] == "act_outside_pathway"
    batch = client.post("/policies/france/explain", content=line + "\n", headers=NDJSON)
    assert batch.status_code == 415


def visits(person: str | None, count: int, year: int = 2026, first: int = 0) -> list[str]:
    """`count` visits of one person (no `patient.id` when None), one a day from 2 January,
    each with a flat fee of 2.00 EUR (the sample's first episode, dated)."""
    template = json.loads(sample_lines(1)[0])
    out = []
    for day in range(first, first + count):
        episode = json.loads(json.dumps(template))
        episode["id"] = f"{person or 'anon'}-{day:03d}"
        episode["date"] = f"{year}-{1 + day // 28:02d}-{2 + day % 28:02d}"
        if person is not None:
            episode["patient"] = {"id": person, **episode["patient"]}
        out.append(json.dumps(episode, separators=(",", ":")))
    return out


def flat_fees(lines: list[str]) -> list[str]:
    return [json.loads(line).get("flat_fee", "rejected") for line in lines]


def test_a_batch_applies_accumulators_as_parcours_decide_does(client: httpx.Client) -> None:
    # one person's 30 visits reach the 50.00 EUR cap at the 25th; another's 3 do not;
    # a visit of 2025 starts from zero; an episode without patient.id is a person of its own
    ordered = visits("p-1", 30) + visits("p-2", 3) + visits("p-1", 2, 2025) + visits(None, 2)
    bad = json.loads(ordered[5])
    bad["visit"]["sector"] = "9"
    mixed = ordered[::-1] + [json.dumps(bad), "", *visits("p-3", 1)]
    for lines in (ordered, mixed):  # in key order (decided as they come), and sorted
        expected, stderr = cli_decide(*lines)
        answer = client.post("/policies/france/decide", content="\n".join(lines) + "\n",
                             headers=NDJSON)
        assert answer.status_code == 200
        got = answer.text.splitlines()
        assert [line for line in got if '"rejected"' not in line] == expected
        rejected = [json.loads(line)["rejected"] for line in got if '"rejected"' in line]
        assert rejected == [line.removeprefix("rejected: ") for line in stderr.splitlines()]
        fees = {json.loads(line)["id"]: json.loads(line)["flat_fee"] for line in expected}
        assert [fees[f"p-1-{day:03d}"] for day in range(23, 27)] == [
            "2.00", "2.00", "0.00", "0.00"]  # the cap binds from the 26th visit
        assert fees["p-2-002"] == fees["anon-001"] == "2.00"
    assert len(rejected) == 1 and f"(line {len(ordered) + 1})" in rejected[0]  # the input's
    assert [json.loads(line)["line"] for line in got if '"rejected"' in line] == [len(ordered) + 1]
    # one episode at a time is stateless: the 26th visit alone pays the fee
    alone = client.post("/policies/france/decide", content=visits("p-1", 1, first=25)[0],
                        headers=JSON).json()
    assert alone["flat_fee"] == "2.00"


def test_one_episode_states_what_it_used_and_explain_is_that_of_the_cli(
        client: httpx.Client, tmp_path: Path) -> None:
    episode = json.loads(visits("p-1", 1, first=30)[0])
    plain = client.post("/policies/france/explain", json=episode).json()
    cli = CliRunner().invoke(main, ["explain", str(FRANCE), "--episode", json.dumps(episode),
                                    "--format", "json"])
    assert plain == json.loads(cli.stdout)
    assert plain["accumulators"] == [{"name": "participations", "key": ["p-1"],
                                      "period": "2026", "before": "0", "after": "2.00",
                                      "cap": "50.00", "bound": False}]
    episode["participations_used"] = "49.00"  # the caller's total: explain as from a state
    state = tmp_path / "state.jsonl"
    state.write_text('{"accumulator":"participations","key":["p-1"],"period":"2026",'
                     '"used":"49.00"}\n', encoding="utf-8")
    stated = client.post("/policies/france/explain", json=episode).json()
    cli = CliRunner().invoke(main, ["explain", str(FRANCE), "--episode", json.dumps(episode),
                                    "--format", "json", "--state-in", str(state)])
    assert stated == json.loads(cli.stdout)
    assert stated["flat_fee"] == "1.00" and stated["accumulators"][0]["bound"] is True
    decided = client.post("/policies/france/decide", json=episode).json()
    assert {k: v for k, v in stated.items() if k not in ("trace", "accumulators")} == decided
    episode["participations_used"] = "lots"
    refused = client.post("/policies/france/explain", json=episode)
    assert refused.status_code == 422 and refused.json()["field"] == "participations_used"
    nhs = client.post("/policies/nhs/explain", content=sample_lines(1)[0], headers=JSON).json()
    assert "accumulators" not in nhs  # a policy without accumulators: as before


def test_request_size_limits(client: httpx.Client) -> None:
    episode = json.loads(sample_lines(1)[0])
    episode["id"] = "x" * LIMITS.episode
    big = client.post("/policies/france/decide", json=episode)
    assert big.status_code == 413 and big.json()["limit"] == LIMITS.episode

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(LIMITS.batch // 1000 + 10):
            yield b" " * 1000

    streamed = client.post("/policies/france/decide", content=chunks(), headers=NDJSON)
    assert streamed.status_code == 413
    assert client.get("/health").status_code == 200  # still serving


def test_unknown_policy_route_method_and_content_type(client: httpx.Client) -> None:
    line = sample_lines(1)[0]
    unknown = client.post("/policies/spain/decide", content=line, headers=JSON)
    assert unknown.status_code == 404 and unknown.json()["policies"] == ["france", "nhs"]
    assert client.get("/nowhere").status_code == 404
    assert client.get("/policies/france/decide").status_code == 405
    csv = client.post("/policies/france/decide", content=line, headers={"content-type": "text/csv"})
    assert csv.status_code == 415 and "application/x-ndjson" in csv.json()["error"]


def test_openapi_is_generated_from_the_declared_inputs_and_outputs(
        client: httpx.Client, france: types.ModuleType) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/policies/france/decide", "/policies/nhs/explain", "/health"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    episode = schemas["france_episode"]
    assert {"date", "patient", "visit"} <= set(episode["required"])
    visit = episode["properties"]["visit"]
    assert visit["properties"]["specialty"]["enum"][0] == "general_practice"
    assert visit["properties"]["sector"]["default"] == "1" and "sector" not in visit["required"]
    assert visit["properties"]["act"]["default"] == "consultation"  # france's own input
    assert "act" not in schemas["nhs_episode"]["properties"]["visit"]["properties"]
    decision = schemas["france_decision"]
    assert decision["properties"]["pathway"]["enum"] == list(france.POLICY.pathways)
    assert decision["properties"]["rate"]["type"] == "string"
    assert "reimbursed" in decision["required"] and "trace" not in decision["properties"]
    assert "trace" in schemas["france_explanation"]["required"]
    assert schemas["nhs_decision"]["properties"]["currency"] == {"const": "GBP"}
    used = episode["properties"]["participations_used"]
    assert used["default"] == "0.00" and "accumulator participations (per patient.id" in \
        used["description"] and "the service keeps no state" in used["description"]
    assert "participations_used" not in schemas["nhs_episode"]["properties"]
    assert "accumulators" in schemas["france_explanation"]["properties"]
    assert "accumulators" not in schemas["nhs_explanation"]["properties"]
    assert "participations_used" in spec["paths"]["/policies/france/decide"]["post"][
        "description"]


class _Broken(types.ModuleType):
    """A policy module whose decisions fail with an error no episode causes."""

    def __init__(self, meta: PolicyMeta) -> None:
        super().__init__("broken")
        self.POLICY = meta

    def decide(self, episode: object, params: object = None) -> object:
        raise RuntimeError("a fault in the service /secret/path")

    explain = decide


def test_an_internal_failure_is_a_500_with_json_and_no_traceback(
        france: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app([Served(_Broken(france.POLICY))], LIMITS, "v")
    line = sample_lines(1)[0]
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        one = http.post("/policies/france/decide", content=line, headers=JSON)
        batch = http.post("/policies/france/decide", content=line + "\n", headers=NDJSON)
    assert one.status_code == 500
    assert one.json() == {"error": "internal error: the failure is in the service's log"}
    assert "Traceback" not in one.text and "secret" not in one.text
    assert batch.status_code == 200 and "secret" not in batch.text
    assert json.loads(batch.text.splitlines()[-1])["error"].startswith("internal error")
    assert "a fault in the service" in caplog.text  # logged


def test_a_precompiled_module_is_served_without_its_source(tmp_path: Path) -> None:
    _, text = compile_policy(FRANCE, verify=False)
    module_path = tmp_path / "france_compiled.py"
    module_path.write_text(text, encoding="utf-8")
    item = served_module(load_generated(module_path))
    assert item.episode_schema["properties"]["patient"]["properties"]["age"] == {}  # type: ignore[index]
    lines = sample_lines(5)
    expected, _ = cli_decide(*lines)
    with Server(create_app([item], LIMITS, "v")) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        answers = [http.post("/policies/france/decide", content=line, headers=JSON).text
                   for line in lines]
        schema = http.get("/openapi.json").json()["components"]["schemas"]["france_episode"]
    assert "accumulator participations" in schema["properties"]["participations_used"][
        "description"]  # untyped, still described
    assert [a.rstrip("\n") for a in answers] == expected


def test_the_service_imports_no_compiler_stage() -> None:
    code = ("import sys, parcours.compiler.tools.service; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'jinja2') "
            "or m.startswith(('parcours.compiler.pipeline', 'parcours.compiler.sema', "
            "'parcours.compiler.ir'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_parcours_serve_on_the_command_line(tmp_path: Path) -> None:
    """The command itself: started, asked, stopped; two policies with one id are refused."""
    port = _free_port()
    parcours = str(Path(sys.executable).parent / "parcours")
    process = subprocess.Popen([parcours, "serve", str(FRANCE), "--port", str(port),
                                "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "parcours serve did not start"
                time.sleep(0.1)
        line = sample_lines(1)[0]
        expected, _ = cli_decide(line)
        answer = httpx.post(url + "/policies/france/decide", content=line, headers=JSON)
        assert answer.text.rstrip("\n") == expected[0]
    finally:
        process.terminate()
        process.wait(20)
        if process.stderr:
            process.stderr.close()
    twice = CliRunner().invoke(main, ["serve", str(FRANCE), str(FRANCE)])
    assert twice.exit_code == 2 and "both policy france" in twice.stderr


def test_serve_without_the_serve_extra_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    result = CliRunner().invoke(main, ["serve", str(FRANCE)])
    assert result.exit_code == 2
    assert "pip install 'parcours[serve]'" in result.stderr and "Traceback" not in result.output


def test_serve_names_an_address_it_cannot_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(FRANCE), "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
