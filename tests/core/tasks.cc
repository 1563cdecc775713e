#include "tests/core/tasks.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "src/ipc/channel.h"

namespace pp_test {

int status_task(void *, size_t, void **out, size_t *out_n, void *)
{
	char line[256], all[1024] = "";
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff", 6) || !strncmp(line, "CapPrm", 6) ||
		    !strncmp(line, "CapBnd", 6) || !strncmp(line, "CapAmb", 6) ||
		    !strncmp(line, "NoNewPrivs", 10) ||
		    !strncmp(line, "Seccomp:", 8))
			strncat(all, line, sizeof(all) - strlen(all) - 1);
	fclose(f);
	*out = strdup(all);
	*out_n = strlen(all) + 1;
	return 0;
}

int socket_task(void *, size_t, void **, size_t *, void *)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	return fd < 0 ? errno : 0;
}

int fd_open_task(void *, size_t, void **, size_t *, void *ud)
{
	int fd = (int)(intptr_t)ud;
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF ? 0 : 1;
}

int nofile_task(void *, size_t, void **, size_t *, void *)
{
	int n = 0;
	// dup is in the default profile; the limit stops it.
	while (n < 8 && dup(0) >= 0)
		n++;
	return n < 8 && errno == EMFILE ? 0 : 1;
}

Board *board()
{
	static Board *b = [] {
		void *p = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		return new (p) Board();
	}();
	return b;
}

void reset_board()
{
	Board *b = board();
	b->started = 0;
	b->order_next = 0;
	for (auto &o : b->order)
		o = -1;
	b->attempts = 0;
	b->release = 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, nullptr);
}

int noop_task(void *, size_t, void **, size_t *, void *)
{
	return 0;
}

int square_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	int64_t v;
	if (n != sizeof(v))
		return 22;
	memcpy(&v, in, sizeof(v));
	auto *r = static_cast<int64_t *>(malloc(sizeof(v)));
	*r = v * v;
	*out = r;
	*out_n = sizeof(v);
	return 0;
}

int echo_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	void *p = pool_output_alloc(n);
	if (!p)
		return 12;
	memcpy(p, in, n);
	*out = p;
	*out_n = n;
	return 0;
}

int echo_malloc_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	void *p = malloc(n);
	memcpy(p, in, n);
	*out = p;
	*out_n = n;
	return 0;
}

int return_code_task(void *, size_t, void **, size_t *, void *ud)
{
	return static_cast<int>(reinterpret_cast<intptr_t>(ud));
}

int segv_task(void *, size_t, void **, size_t *, void *)
{
	raise(SIGSEGV);
	return 0;
}

int sleep_then_segv_task(void *, size_t, void **, size_t *, void *ud)
{
	sleep_ms(static_cast<int>(reinterpret_cast<intptr_t>(ud)));
	raise(SIGSEGV);
	return 0;
}

int hang_task(void *, size_t, void **, size_t *, void *)
{
	for (;;)
		pause();
	return 0;
}

int sleep_task(void *, size_t, void **, size_t *, void *ud)
{
	sleep_ms(static_cast<int>(reinterpret_cast<intptr_t>(ud)));
	return 0;
}

int record_task(void *, size_t, void **, size_t *, void *ud)
{
	Board *b = board();
	int i = b->order_next++;
	if (i < 256)
		b->order[i] = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	return 0;
}

int blocker_task(void *, size_t, void **, size_t *, void *)
{
	Board *b = board();
	b->started++;
	for (int i = 0; i < 10000 && !b->release; i++)
		sleep_ms(1);
	return 0;
}

int crash_once_task(void *, size_t, void **, size_t *, void *)
{
	if (board()->attempts++ == 0)
		raise(SIGSEGV);
	return 0;
}

int sized_output_task(void *, size_t, void **out, size_t *out_n, void *ud)
{
	size_t n = static_cast<size_t>(reinterpret_cast<uintptr_t>(ud));
	auto *p = static_cast<unsigned char *>(malloc(n ? n : 1));
	if (!p)
		return 12;
	for (size_t i = 0; i < n; i++)
		p[i] = static_cast<unsigned char>(i * 31);
	*out = p;
	*out_n = n;
	return 0;
}

int huge_output_task(void *, size_t, void **out, size_t *out_n, void *)
{
	size_t n = (size_t)64 << 20;
	void *p = calloc(1, n);
	if (!p)
		return 12;
	*out = p;
	*out_n = n;
	return 0;
}

unsigned char *find_channel()
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned char *base = nullptr;

	if (!f)
		return nullptr;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "processpool-channel")) {
			base = reinterpret_cast<unsigned char *>(
				strtoull(line, nullptr, 16));
			break;
		}
	fclose(f);
	return base;
}

int scribble_task(void *, size_t, void **, size_t *, void *)
{
	unsigned char *base = find_channel();
	uint64_t complete_off;

	if (!base)
		return 99;
	// The channel header says where the completion ring starts (offset
	// 40); push its producer index far past anything possible, then
	// stay busy so this worker cannot repair it.
	memcpy(&complete_off, base + 40, sizeof(complete_off));
	uint32_t jump = 0x40000000;
	memcpy(base + complete_off + PP_RING_PRODUCER_INDEX_OFFSET, &jump, 4);
	board()->started++;
	for (;;)
		pause();
	return 0;
}

std::vector<pid_t> children()
{
	std::vector<pid_t> out;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d)
		return out;
	while ((e = readdir(d)) != nullptr) {
		char path[300];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
			 e->d_name);
		FILE *f = fopen(path, "r");
		long pid;
		while (f && fscanf(f, "%ld", &pid) == 1)
			out.push_back((pid_t)pid);
		if (f)
			fclose(f);
	}
	closedir(d);
	return out;
}

}  // namespace pp_test
