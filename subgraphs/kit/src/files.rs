//! Files holding secrets or personal data (signing key, internal token, SQLite
//! databases, the outbox, the CLI's session) are created readable by their
//! owner only *from the first byte*: the mode is given to `open(2)` itself,
//! never fixed afterwards with `chmod` (which leaves a window where the file
//! is world-readable under the usual umask).

use std::{io::Write as _, path::Path};

use anyhow::Context as _;

/// Creates `dir` and its missing parents, the new ones as `0700`.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating directory {}", dir.display()))
}

/// Writes `bytes` to `path` (replacing its contents), creating it as `0600`;
/// an existing file is narrowed to `0600` before anything is written.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = open_private(path, false)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Creates `path` as an empty `0600` file if it does not exist (so a program
/// that opens it later, such as SQLite, finds it private); an existing file
/// is narrowed to `0600`.
pub fn ensure_private_file(path: &Path) -> anyhow::Result<()> {
    open_private(path, true).map(drop)
}

fn open_private(path: &Path, keep_contents: bool) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options
        .write(true)
        .create(true)
        .truncate(!keep_contents)
        .append(keep_contents);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn new_files_and_folders_are_owner_only_and_old_ones_are_narrowed() {
        let root = tempfile::tempdir().expect("temp dir");
        let secret = root.path().join("a/b/secret");
        write_private(&secret, b"x").expect("written");
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);

        let loose = root.path().join("loose");
        std::fs::write(&loose, b"old").expect("written");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        ensure_private_file(&loose).expect("narrowed");
        assert_eq!(mode(&loose), 0o600);
        assert_eq!(
            std::fs::read(&loose).expect("read"),
            b"old",
            "contents kept"
        );
    }
}
