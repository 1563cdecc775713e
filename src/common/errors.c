/* Error names and messages, generated from the one table in the header. */
#include "process_pool.h"

#define PP_STR2(x) #x
#define PP_STR(x)  PP_STR2(x)

const char *pool_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
#define POOL_ERRNO_MSG(name, value, msg)                                       \
	case value:                                                            \
		return msg;
		POOL_ERRNO_MAP(POOL_ERRNO_MSG)
#undef POOL_ERRNO_MSG
	default:
		return "unknown error";
	}
}

const char *pool_errname(int code)
{
	switch (code) {
	case 0:
		return "POOL_OK";
#define POOL_ERRNO_NAME(name, value, msg)                                      \
	case value:                                                            \
		return "POOL_" #name;
		POOL_ERRNO_MAP(POOL_ERRNO_NAME)
#undef POOL_ERRNO_NAME
	default:
		return "POOL_EUNKNOWN";
	}
}

const char *pool_version(void)
{
	return PP_STR(PROCESS_POOL_VERSION_MAJOR) "." PP_STR(
	    PROCESS_POOL_VERSION_MINOR) "." PP_STR(PROCESS_POOL_VERSION_PATCH);
}
