/* The README's delegation recipe ("cgroup v2 and delegation"), as
 * written. Where no delegated group exists (this host, a test sandbox)
 * the required mode refuses to start, which the program reports; in the
 * cgroup v2 guest's service scenario it starts with limits. */
/* README:begin */
#include <process_pool.h>
#include <stdio.h>
#include <string.h>

/* "/system.slice/my-service.service" from "0::/system.slice/...
 * my-service.service/main", the one line of /proc/self/cgroup. */
static int service_group(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char *slash;
	int ok = f && fgets(buf, (int)len, f) && !strncmp(buf, "0::/", 4);

	if (f)
		fclose(f);
	if (!ok || !(slash = strrchr(buf, '/')) || slash == buf + 3)
		return -1;
	*slash = '\0';
	memmove(buf, buf + 3, strlen(buf + 3) + 1);
	return 0;
}

int main(void)
{
	pool_config_t config = {0};
	char parent[4096];

	if (service_group(parent, sizeof(parent)) == 0)
		config.cgroup_parent = parent; /* copied by pool_create */
	config.cgroup_mode = POOL_CGROUP_REQUIRED; /* or best effort */
	process_pool_t *pool = pool_create(&config);
	if (!pool)
		return 1;
	if (pool_start(pool) != 0) /* the log line says what is missing */
		fprintf(stderr, "no cgroup limits here: pool not started\n");
	pool_destroy(pool);
	return 0;
}
/* README:end */
