"""Validates pool_metrics_write's JSON against docs/metrics.schema.json and
checks the figures the test knows: check_metrics_json.py SCHEMA FILE POOL
COMPLETED FAILED WORKERS. Exits 77 when jsonschema is not installed."""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("jsonschema not installed")
    sys.exit(77)

schema_path, doc_path, pool, completed, failed, workers = sys.argv[1:7]
with open(schema_path) as f:
    schema = json.load(f)
with open(doc_path) as f:
    doc = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)

errors = []


def want(what, got, expected):
    if got != expected:
        errors.append(f"{what}: {got!r}, want {expected!r}")


want("pool", doc["pool"], pool)
want("completed", doc["tasks"]["completed"], int(completed))
want("failed", doc["tasks"]["failed"], int(failed))
want("submitted", doc["tasks"]["submitted"], int(completed) + int(failed))
want("alive", doc["workers"]["alive"], int(workers))
want("worker_list", len(doc["worker_list"]), int(workers))
lat = doc["latency"]
want("bucket_le_us", lat["bucket_le_us"], [1 << i for i in range(28)])
runs = sum(h["count"] for h in lat["run"].values())
want("run count", runs, int(completed) + int(failed))
want("total count", lat["total"]["count"], int(completed) + int(failed))
for w in doc["worker_list"]:
    want("worker source", "proc" in w["usage"]["source"], True)
    if w["usage"]["rss_bytes"] <= 0:
        errors.append(f"worker {w['slot']} rss 0")
for h in [lat["total"]] + list(lat["run"].values()) + \
        list(lat["queue_wait"].values()):
    if h["le"] != sorted(h["le"]) or (h["le"] and h["le"][-1] > h["count"]):
        errors.append(f"histogram not cumulative: {h}")
if doc["host"] is None or doc["host"]["rss_bytes"] <= 0:
    errors.append("host usage missing")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
