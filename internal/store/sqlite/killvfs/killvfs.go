// Package killvfs is a SQLite VFS for crash tests. It passes every call to the operating
// system's VFS and kills its own process with SIGKILL at one chosen moment: the Nth write to, or
// sync of, a file whose name ends with a given suffix, counted once an arm file exists. With
// tillit.db and keys.db committing one transaction file by file, it puts a crash exactly between
// the two files (the first write to keys.db-wal of a commit) or after both (its sync).
//
// Nothing in a normal start uses it: the crash tests register it in their child process and
// name it with TILLIT_SQLITE_VFS.
package killvfs

import (
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Plan says when to kill the process.
type Plan struct {
	Suffix  string // a file name suffix: "keys.db-wal", "tillit.db-wal"
	Op      string // "write" (before the Nth write is done) or "sync" (after the Nth sync is done)
	N       int    // 1 is the first write or sync once armed
	ArmFile string // counting starts once this file exists; "" counts from the start
}

// Register registers the VFS under name.
func Register(name string, p Plan) { vfs.Register(name, &killVFS{VFS: vfs.Find(""), plan: p}) }

type killVFS struct {
	vfs.VFS
	plan  Plan
	mu    sync.Mutex
	armed bool
	count int
}

// hit counts one operation on a matching file and reports whether it is the chosen one.
func (k *killVFS) hit(name, op string) bool {
	if op != k.plan.Op || !strings.HasSuffix(name, k.plan.Suffix) {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.armed {
		if k.plan.ArmFile != "" {
			if _, err := os.Stat(k.plan.ArmFile); err != nil {
				return false
			}
		}
		k.armed = true
	}
	k.count++
	return k.count == k.plan.N
}

func die() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; nothing more may be written
}

func (k *killVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	return k.OpenFilename(nil, flags)
}

func (k *killVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(k.VFS, name, flags)
	if err != nil || name == nil {
		return f, flags, err
	}
	return &killFile{File: f, name: name.String(), vfs: k}, flags, nil
}

type killFile struct {
	vfs.File
	name string
	vfs  *killVFS
}

func (f *killFile) WriteAt(p []byte, off int64) (int, error) {
	if f.vfs.hit(f.name, "write") {
		die()
	}
	return f.File.WriteAt(p, off)
}

func (f *killFile) Sync(flags vfs.SyncFlag) error {
	err := f.File.Sync(flags)
	if f.vfs.hit(f.name, "sync") {
		die()
	}
	return err
}

// The optional methods SQLite needs for WAL mode and locking, passed through.

func (f *killFile) Unwrap() vfs.File                { return f.File }
func (f *killFile) SharedMemory() vfs.SharedMemory  { return vfsutil.WrapSharedMemory(f.File) }
func (f *killFile) LockState() vfs.LockLevel        { return vfsutil.WrapLockState(f.File) }
func (f *killFile) PersistWAL() bool                { return vfsutil.WrapPersistWAL(f.File) }
func (f *killFile) SetPersistWAL(keep bool)         { vfsutil.WrapSetPersistWAL(f.File, keep) }
func (f *killFile) PowersafeOverwrite() bool        { return vfsutil.WrapPowersafeOverwrite(f.File) }
func (f *killFile) SetPowersafeOverwrite(psow bool) { vfsutil.WrapSetPowersafeOverwrite(f.File, psow) }
func (f *killFile) MemoryMapper() vfs.MemoryMapper  { return vfsutil.WrapMemoryMapper(f.File) }
func (f *killFile) HasMoved() (bool, error)         { return vfsutil.WrapHasMoved(f.File) }
func (f *killFile) Overwrite() error                { return vfsutil.WrapOverwrite(f.File) }
func (f *killFile) SyncSuper(super string) error    { return vfsutil.WrapSyncSuper(f.File, super) }
func (f *killFile) CommitPhaseTwo() error           { return vfsutil.WrapCommitPhaseTwo(f.File) }
func (f *killFile) BeginAtomicWrite() error         { return vfsutil.WrapBeginAtomicWrite(f.File) }
func (f *killFile) CommitAtomicWrite() error        { return vfsutil.WrapCommitAtomicWrite(f.File) }
func (f *killFile) RollbackAtomicWrite() error      { return vfsutil.WrapRollbackAtomicWrite(f.File) }
func (f *killFile) CheckpointStart()                { vfsutil.WrapCheckpointStart(f.File) }
func (f *killFile) CheckpointDone()                 { vfsutil.WrapCheckpointDone(f.File) }
func (f *killFile) BusyHandler(handler func() bool) { vfsutil.WrapBusyHandler(f.File, handler) }
func (f *killFile) ChunkSize(size int)              { vfsutil.WrapChunkSize(f.File, size) }
func (f *killFile) SizeHint(size int64) error       { return vfsutil.WrapSizeHint(f.File, size) }
func (f *killFile) Pragma(name, value string) (string, error) {
	return vfsutil.WrapPragma(f.File, name, value)
}
