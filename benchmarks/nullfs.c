// The FUSE ceiling: a minimal libfuse3 low-level file system with the same session settings as
// the Cairn mount (multithreaded loop, 1 MiB max_read/max_write). It holds one file, "file",
// whose reads return zeros and whose writes are accepted and dropped; creating any name opens it.
// Build: cc -O2 -o nullfs nullfs.c $(pkg-config --cflags --libs fuse3)
#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const off_t file_size = (off_t)1 << 40;
static char zeros[1 << 20];

static void attr(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == 1) { st->st_mode = S_IFDIR | 0755; st->st_nlink = 2; }
  else { st->st_mode = S_IFREG | 0644; st->st_nlink = 1; st->st_size = file_size; }
}

static void init(void *u, struct fuse_conn_info *c) {
  (void)u;
  c->max_write = 1 << 20; c->max_read = 1 << 20; c->max_readahead = 1 << 20;
  c->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

static void lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  if (parent != 1 || strcmp(name, "file") != 0) { fuse_reply_err(req, ENOENT); return; }
  struct fuse_entry_param e; memset(&e, 0, sizeof e); e.ino = 2; attr(2, &e.attr);
  fuse_reply_entry(req, &e);
}

static void getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi; struct stat st; attr(ino, &st); fuse_reply_attr(req, &st, 0);
}

static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int to_set, struct fuse_file_info *fi) {
  (void)a; (void)to_set; (void)fi; struct stat st; attr(ino, &st); fuse_reply_attr(req, &st, 0);
}

static void open_(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)ino; fuse_reply_open(req, fi); }

static void create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  (void)parent; (void)name; (void)mode;
  struct fuse_entry_param e; memset(&e, 0, sizeof e); e.ino = 2; attr(2, &e.attr);
  fuse_reply_create(req, &e, fi);
}

static void read_(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino; (void)off; (void)fi;
  fuse_reply_buf(req, zeros, size > sizeof zeros ? sizeof zeros : size);
}

static void write_(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino; (void)buf; (void)off; (void)fi; fuse_reply_write(req, size);
}

static void ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)ino; (void)fi; fuse_reply_err(req, 0); }

int main(int argc, char **argv) {
  if (argc < 2) { return 2; }
  char *args_v[] = { argv[0], "-o", "fsname=nullfs,subtype=null,allow_other,max_read=1048576", NULL };
  struct fuse_args args = FUSE_ARGS_INIT(3, args_v);
  struct fuse_lowlevel_ops ops; memset(&ops, 0, sizeof ops);
  ops.init = init; ops.lookup = lookup; ops.getattr = getattr; ops.setattr = setattr; ops.open = open_;
  ops.create = create; ops.read = read_; ops.write = write_; ops.flush = ok; ops.release = ok;
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se || fuse_session_mount(se, argv[1]) != 0) return 1;
  fuse_set_signal_handlers(se);
  struct fuse_loop_config config = { .clone_fd = 0, .max_idle_threads = 16 };
  int rc = fuse_session_loop_mt(se, &config);
  fuse_remove_signal_handlers(se);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return rc;
}
