#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

/// fuse_session_loop_mt is a macro in libfuse3; Swift cannot call macros.
static inline int cairn_fuse_session_loop_mt(struct fuse_session *se, unsigned int clone_fd, unsigned int max_idle_threads) {
    struct fuse_loop_config config;
    config.clone_fd = clone_fd;
    config.max_idle_threads = max_idle_threads;
    return fuse_session_loop_mt(se, &config);
}
