// pool_metrics_write: the Prometheus text parsed and checked here (names,
// types, units, labels, histograms, the known workload's figures), then by
// promtool when installed, with the alerting rules; the JSON validated
// against docs/metrics.schema.json (python3 jsonschema, when installed).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

using namespace pp_test;

// The pool name has a quote and a backslash: label escaping is tested too.
const char kPool[] = "obs\"te\\st";
const char kPoolLabel[] = "obs\\\"te\\\\st";

std::string runfile(const char *rel)
{
	const char *dir = getenv("TEST_SRCDIR"), *ws = getenv("TEST_WORKSPACE");
	if (!dir || !ws)
		return rel;
	return std::string(dir) + "/" + ws + "/" + rel;
}

std::string metrics(process_pool_t *p, int format)
{
	int fd = memfd_create("metrics", MFD_CLOEXEC);
	EXPECT_GE(fd, 0);
	int n = pool_metrics_write(p, fd, format);
	EXPECT_GT(n, 0) << pool_strerror(n);
	std::string s(n > 0 ? (size_t)n : 0, '\0');
	EXPECT_EQ(pread(fd, &s[0], s.size(), 0), (ssize_t)s.size());
	close(fd);
	return s;
}

std::string to_file(const std::string &text, const char *name)
{
	const char *tmp = getenv("TEST_TMPDIR");
	std::string path = std::string(tmp ? tmp : "/tmp") + "/" + name;
	FILE *f = fopen(path.c_str(), "w");
	EXPECT_NE(f, nullptr);
	fwrite(text.data(), 1, text.size(), f);
	fclose(f);
	return path;
}

// Runs cmd; its exit status (-1 if it could not run).
int run(const std::string &cmd)
{
	int st = system(cmd.c_str());
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

bool have(const char *tool)
{
	return run(std::string("command -v ") + tool + " >/dev/null 2>&1") == 0;
}

struct Sample {
	std::string name;
	std::map<std::string, std::string> labels;
	double value;
};

// Parses "name{k="v",...} value"; label values unescaped.
bool parse_sample(const std::string &line, Sample *s)
{
	size_t brace = line.find('{');
	if (brace == std::string::npos)
		return false;
	s->name = line.substr(0, brace);
	size_t i = brace + 1;
	while (i < line.size() && line[i] != '}') {
		size_t eq = line.find("=\"", i);
		if (eq == std::string::npos)
			return false;
		std::string key = line.substr(i, eq - i), val;
		for (i = eq + 2; i < line.size() && line[i] != '"'; i++) {
			if (line[i] == '\\' && i + 1 < line.size())
				i++;
			val += line[i];
		}
		if (i >= line.size())
			return false;
		s->labels[key] = val;
		i++;
		if (i < line.size() && line[i] == ',')
			i++;
	}
	if (i >= line.size() || line[i] != '}' || line[i + 1] != ' ')
		return false;
	char *end;
	s->value = strtod(line.c_str() + i + 2, &end);
	return *end == '\0';
}

std::string series_key(const Sample &s, bool drop_le)
{
	std::string k = s.name;
	for (auto &kv : s.labels)
		if (!(drop_le && kv.first == "le"))
			k += "|" + kv.first + "=" + kv.second;
	return k;
}

std::string strip(const std::string &n, const char *suffix)
{
	size_t l = strlen(suffix);
	if (n.size() > l && n.compare(n.size() - l, l, suffix) == 0)
		return n.substr(0, n.size() - l);
	return n;
}

class MetricsExport : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 2;
		snprintf(c.pool_name, sizeof(c.pool_name), "%s", kPool);
		p_ = pool_create(&c);
		ASSERT_NE(p_, nullptr);
		ASSERT_EQ(pool_start(p_), 0);
		task_result_t r;
		for (int i = 0; i < 5; i++) {
			ASSERT_EQ(pool_submit_sync(p_, noop_task, nullptr, 0,
						   nullptr,
						   TASK_PRIORITY_NORMAL, 0, &r),
				  0);
			ASSERT_EQ(r.status, TASK_STATUS_COMPLETED);
		}
		ASSERT_EQ(pool_submit_sync(p_, return_code_task, nullptr, 0,
					   reinterpret_cast<void *>(3),
					   TASK_PRIORITY_HIGH, 0, &r),
			  0);
		ASSERT_EQ(r.status, TASK_STATUS_FAILED);
		// Both workers must be up before the counts are checked.
		for (int i = 0; i < 200; i++) {
			pool_stats_t st;
			pool_get_stats(p_, &st);
			if (st.active_workers == 2)
				break;
			usleep(10000);
		}
	}
	void TearDown() override
	{
		pool_destroy(p_);
	}
	process_pool_t *p_ = nullptr;
};

TEST_F(MetricsExport, BadArguments)
{
	EXPECT_EQ(pool_metrics_write(nullptr, 1, POOL_METRICS_JSON),
		  POOL_EINVAL);
	EXPECT_EQ(pool_metrics_write(p_, -1, POOL_METRICS_JSON), POOL_EINVAL);
	EXPECT_EQ(pool_metrics_write(p_, 1, 7), POOL_EINVAL);
	int fds[2];
	ASSERT_EQ(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	EXPECT_EQ(pool_metrics_write(p_, fds[1], POOL_METRICS_PROMETHEUS),
		  POOL_ESYS);
	close(fds[1]);
}

TEST_F(MetricsExport, PrometheusTextFollowsTheConventions)
{
	std::string text = metrics(p_, POOL_METRICS_PROMETHEUS);
	std::map<std::string, std::string> types;
	std::set<std::string> helps, seen;
	std::map<std::string, std::vector<Sample>> buckets;
	std::map<std::string, double> counts;
	std::map<std::string, double> v; // series key -> value
	std::istringstream in(text);
	std::string line;
	int samples = 0;

	ASSERT_FALSE(text.empty());
	ASSERT_EQ(text.back(), '\n');
	while (std::getline(in, line)) {
		ASSERT_FALSE(line.empty());
		if (line.rfind("# HELP ", 0) == 0) {
			std::string n = line.substr(7, line.find(' ', 7) - 7);
			EXPECT_TRUE(helps.insert(n).second) << n;
			continue;
		}
		if (line.rfind("# TYPE ", 0) == 0) {
			std::istringstream t(line.substr(7));
			std::string n, type;
			t >> n >> type;
			EXPECT_TRUE(helps.count(n))
			    << "TYPE before HELP: " << n;
			EXPECT_FALSE(types.count(n)) << "twice: " << n;
			types[n] = type;
			EXPECT_EQ(n.rfind("processpool_", 0), 0u) << n;
			if (type == "counter") {
				EXPECT_NE(strip(n, "_total"), n) << n;
			}
			if (type == "histogram") {
				EXPECT_NE(strip(n, "_seconds"), n) << n;
			}
			continue;
		}
		Sample s;
		ASSERT_TRUE(parse_sample(line, &s)) << line;
		samples++;
		EXPECT_EQ(s.labels["pool"], kPool) << line;
		EXPECT_NE(line.find(std::string("pool=\"") + kPoolLabel + "\""),
			  std::string::npos);
		std::string fam = s.name;
		if (!types.count(fam)) {
			for (const char *suf : {"_bucket", "_sum", "_count"})
				if (types.count(strip(s.name, suf)))
					fam = strip(s.name, suf);
		}
		ASSERT_TRUE(types.count(fam)) << "no TYPE for " << line;
		EXPECT_TRUE(seen.insert(series_key(s, false)).second)
		    << "duplicate " << line;
		v[series_key(s, false)] = s.value;
		if (types[fam] == "histogram") {
			if (s.name == fam + "_bucket")
				buckets[series_key(s, true)].push_back(s);
			else if (s.name == fam + "_count")
				counts[fam + "_bucket" +
				       series_key(s, false).substr(
					   s.name.size())] = s.value;
		}
	}
	EXPECT_GT(samples, 100);
	// Histograms: le ascending to +Inf, cumulative, +Inf == _count.
	EXPECT_EQ(buckets.size(), 9u); // total + 4 queue + 4 run
	for (auto &kv : buckets) {
		const std::vector<Sample> &b = kv.second;
		ASSERT_EQ(b.size(), (size_t)POOL_LATENCY_BUCKETS + 1);
		EXPECT_EQ(b.back().labels.at("le"), "+Inf");
		for (size_t i = 1; i < b.size(); i++) {
			EXPECT_LE(b[i - 1].value, b[i].value) << kv.first;
			if (i + 1 < b.size()) {
				EXPECT_LT(
				    strtod(b[i - 1].labels.at("le").c_str(),
					   nullptr),
				    strtod(b[i].labels.at("le").c_str(),
					   nullptr));
			}
		}
		ASSERT_TRUE(counts.count(kv.first)) << kv.first;
		EXPECT_EQ(b.back().value, counts[kv.first]) << kv.first;
	}
	// The workload.
	std::string pl = std::string("|pool=") + kPool;
	EXPECT_EQ(v["processpool_tasks_submitted_total" + pl], 6);
	EXPECT_EQ(v["processpool_tasks_total" + pl + "|status=completed"], 5);
	EXPECT_EQ(v["processpool_tasks_total" + pl + "|status=failed"], 1);
	EXPECT_EQ(v["processpool_tasks_total" + pl + "|status=crashed"], 0);
	EXPECT_EQ(v["processpool_workers_alive" + pl], 2);
	EXPECT_EQ(v["processpool_task_latency_seconds_count" + pl], 6);
	EXPECT_EQ(
	    v["processpool_task_run_seconds_count" + pl + "|priority=normal"],
	    5);
	EXPECT_EQ(
	    v["processpool_task_run_seconds_count" + pl + "|priority=high"], 1);
	EXPECT_EQ(v["processpool_health_state" + pl], 0);
	int pids = 0;
	for (auto &kv : v)
		if (kv.first.rfind("processpool_worker_pid|", 0) == 0) {
			EXPECT_GT(kv.second, 0);
			pids++;
		}
	EXPECT_EQ(pids, 2);
	EXPECT_GT(v["processpool_host_resident_memory_bytes" + pl], 0);
}

TEST_F(MetricsExport, PromtoolChecksMetrics)
{
	if (!have("promtool"))
		GTEST_SKIP() << "promtool not installed (Debian package "
				"prometheus)";
	std::string path =
	    to_file(metrics(p_, POOL_METRICS_PROMETHEUS), "metrics.prom");
	EXPECT_EQ(run("promtool check metrics < " + path), 0);
}

TEST(AlertRules, PromtoolChecksRules)
{
	if (!have("promtool"))
		GTEST_SKIP() << "promtool not installed (Debian package "
				"prometheus)";
	EXPECT_EQ(run("promtool check rules " +
		      runfile("tools/alerts/processpool.rules.yml")),
		  0);
}

TEST_F(MetricsExport, JsonValidatesAgainstItsSchema)
{
	if (!have("python3"))
		GTEST_SKIP() << "python3 not installed";
	std::string path =
	    to_file(metrics(p_, POOL_METRICS_JSON), "metrics.json");
	char args[64];
	snprintf(args, sizeof(args), " 5 1 2");
	std::string name = kPool;
	// The name holds a quote and a backslash: single-quote it for sh.
	int rc = run("python3 " + runfile("tests/core/check_metrics_json.py") +
		     " " + runfile("docs/metrics.schema.json") + " " + path +
		     " '" + name + "'" + args);
	if (rc == 77)
		GTEST_SKIP() << "python3 jsonschema not installed";
	EXPECT_EQ(rc, 0);
}

} // namespace
