// pool_status_listen: metrics served on a Unix socket as HTTP or bare
// lines; bad requests refused; a silent client does not keep others
// waiting for ever; the socket file's mode, what may be replaced at its
// path and what may not, its removal, and no descriptor left behind.
#include <gtest/gtest.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace
{

using namespace pp_test;

// Bazel's TEST_TMPDIR is longer than a socket address holds (108
// bytes), so the sockets live in a directory of this test's in /tmp.
std::string temp_path(const char *name)
{
	static std::string dir;
	if (dir.empty()) {
		char tmpl[] = "/tmp/pp-status-XXXXXX";
		EXPECT_NE(nullptr, mkdtemp(tmpl));
		dir = tmpl;
	}
	std::string p = dir + "/" + name;
	unlink(p.c_str());
	return p;
}

int connect_to(const std::string &path)
{
	struct sockaddr_un a = {};
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, path.c_str(), path.size() + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

// Sends req, reads until the server closes (30 s at most).
std::string ask(const std::string &path, const std::string &req)
{
	int fd = connect_to(path);
	EXPECT_GE(fd, 0) << strerror(errno);
	if (fd < 0)
		return "";
	EXPECT_EQ((ssize_t)req.size(), write(fd, req.data(), req.size()));
	std::string out;
	char buf[4096];
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 30000) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		out.append(buf, (size_t)n);
	}
	close(fd);
	return out;
}

process_pool_t *started()
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	snprintf(c.pool_name, sizeof(c.pool_name), "status");
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

TEST(StatusSocket, ServesPrometheusAndJsonOverHttpAndBareLines)
{
	process_pool_t *p = started();
	ASSERT_NE(nullptr, p);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 5000, &r));
	std::string path = temp_path("status.sock");
	ASSERT_EQ(0, pool_status_listen(p, path.c_str(), 0));

	std::string prom =
	    ask(path, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
	EXPECT_EQ(0u, prom.find("HTTP/1.0 200 OK\r\n")) << prom.substr(0, 200);
	EXPECT_NE(std::string::npos,
		  prom.find("Content-Type: text/plain; version=0.0.4"));
	EXPECT_NE(std::string::npos,
		  prom.find("processpool_tasks_submitted_total{pool=\"status\"}"))
	    << prom.substr(0, 2000);

	std::string json = ask(path, "GET /metrics.json HTTP/1.0\r\n\r\n");
	size_t body = json.find("\r\n\r\n");
	ASSERT_NE(std::string::npos, body) << json.substr(0, 200);
	EXPECT_NE(std::string::npos, json.find("application/json"));
	EXPECT_EQ('{', json[body + 4]);

	std::string bare = ask(path, "json\n");
	EXPECT_EQ('{', bare.empty() ? 0 : bare[0]) << bare.substr(0, 100);
	bare = ask(path, "prometheus\n");
	EXPECT_EQ(0u, bare.find("# HELP processpool_")) << bare.substr(0, 100);

	std::string head = ask(path, "HEAD /metrics HTTP/1.0\r\n\r\n");
	EXPECT_EQ(0u, head.find("HTTP/1.0 200 OK\r\n"));
	EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4) << "HEAD has a body";
	pool_destroy(p);
}

TEST(StatusSocket, BadRequestsAreRefused)
{
	process_pool_t *p = started();
	ASSERT_NE(nullptr, p);
	std::string path = temp_path("bad.sock");
	ASSERT_EQ(0, pool_status_listen(p, path.c_str(), 0));
	EXPECT_EQ(0u, ask(path, "GET /etc/passwd HTTP/1.0\r\n\r\n")
			  .find("HTTP/1.0 404 Not Found\r\n"));
	EXPECT_EQ(0u, ask(path, "POST /metrics HTTP/1.0\r\n\r\n")
			  .find("HTTP/1.0 400 Bad Request\r\n"));
	EXPECT_EQ("", ask(path, "shutdown\n"));
	// A request line longer than the server reads is refused, not cut.
	EXPECT_EQ("", ask(path, std::string(4096, 'a') + "\n"));
	// The server still answers after all that.
	EXPECT_EQ(0u, ask(path, "prometheus\n").find("# HELP"));
	pool_destroy(p);
}

// A client that connects and says nothing is dropped after its time;
// the next one is answered.
TEST(StatusSocket, ASilentClientDoesNotBlockTheNext)
{
	process_pool_t *p = started();
	ASSERT_NE(nullptr, p);
	std::string path = temp_path("silent.sock");
	ASSERT_EQ(0, pool_status_listen(p, path.c_str(), 0));
	int silent = connect_to(path);
	ASSERT_GE(silent, 0);
	EXPECT_EQ(0u, ask(path, "prometheus\n").find("# HELP"));
	close(silent);
	pool_destroy(p);
}

TEST(StatusSocket, ModeRemovalAndNoDescriptorLeft)
{
	int before = open_fds();
	process_pool_t *p = started();
	ASSERT_NE(nullptr, p);
	int with_pool = open_fds();
	std::string path = temp_path("mode.sock");
	ASSERT_EQ(0, pool_status_listen(p, path.c_str(), 0));
	struct stat st;
	ASSERT_EQ(0, lstat(path.c_str(), &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(0600u, st.st_mode & 07777);
	EXPECT_EQ(POOL_ESTATE, pool_status_listen(p, path.c_str(), 0));
	EXPECT_EQ(0, pool_status_close(p));
	EXPECT_NE(0, lstat(path.c_str(), &st)) << "the socket file stayed";
	EXPECT_EQ(with_pool, open_fds());
	// Listening again works, with another mode; pool_destroy removes it.
	ASSERT_EQ(0, pool_status_listen(p, path.c_str(), 0660));
	ASSERT_EQ(0, lstat(path.c_str(), &st));
	EXPECT_EQ(0660u, st.st_mode & 07777);
	pool_destroy(p);
	EXPECT_NE(0, lstat(path.c_str(), &st)) << "the socket file stayed";
	EXPECT_EQ(before, open_fds());
}

TEST(StatusSocket, OnlyAStaleSocketIsReplaced)
{
	process_pool_t *p = started();
	ASSERT_NE(nullptr, p);
	// A regular file is someone's: refused, left as it was.
	std::string file = temp_path("regular");
	int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(3, write(fd, "abc", 3));
	close(fd);
	errno = 0;
	EXPECT_EQ(POOL_ESYS, pool_status_listen(p, file.c_str(), 0));
	EXPECT_EQ(EEXIST, errno);
	struct stat st;
	ASSERT_EQ(0, lstat(file.c_str(), &st));
	EXPECT_EQ(3, st.st_size);

	// A socket someone listens on: refused.
	std::string live = temp_path("live.sock");
	struct sockaddr_un a = {};
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, live.c_str(), live.size() + 1);
	int other = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, bind(other, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, listen(other, 1));
	errno = 0;
	EXPECT_EQ(POOL_ESYS, pool_status_listen(p, live.c_str(), 0));
	EXPECT_EQ(EADDRINUSE, errno);
	// Once its owner is gone the file is stale, and replaced.
	close(other);
	EXPECT_EQ(0, pool_status_listen(p, live.c_str(), 0));
	EXPECT_EQ(0u, ask(live, "prometheus\n").find("# HELP"));
	pool_destroy(p);
}

TEST(StatusSocket, BadArgumentsAreRefused)
{
	process_pool_t *p = started();
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(POOL_EINVAL, pool_status_listen(nullptr, "/tmp/x", 0));
	EXPECT_EQ(POOL_EINVAL, pool_status_listen(p, nullptr, 0));
	EXPECT_EQ(POOL_EINVAL, pool_status_listen(p, "", 0));
	EXPECT_EQ(POOL_EINVAL,
		  pool_status_listen(p, std::string(200, 'x').c_str(), 0));
	EXPECT_EQ(POOL_EINVAL, pool_status_listen(p, "/tmp/x", 04777));
	EXPECT_EQ(POOL_EINVAL, pool_status_listen(p, "/tmp/x", -1));
	EXPECT_EQ(POOL_EINVAL, pool_status_close(nullptr));
	EXPECT_EQ(0, pool_status_close(p)); // not listening: nothing to do
	pool_destroy(p);
}

} // namespace
