//! A directory laid out as kubelet's AtomicWriter lays out a Secret or ConfigMap volume:
//! `..2026_12_03_10_00_00.123/<file>`, `..data -> ..2026_…`, `<file> -> ..data/<file>`, and
//! a new version published by renaming a fresh `..data_tmp` link over `..data`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The modification time of every file published (so a test cannot pass on a changed time).
fn same_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_292_000)
}

/// A Kubernetes-style volume directory.
pub struct KubeVolume {
    dir: PathBuf,
    /// How many versions were published (names each timestamped directory apart).
    versions: u32,
}

impl KubeVolume {
    /// Creates `dir` and publishes `files` as its first version.
    pub fn create(dir: &Path, files: &[(&str, &str)]) -> KubeVolume {
        std::fs::create_dir_all(dir).unwrap();
        let mut volume = KubeVolume {
            dir: dir.to_path_buf(),
            versions: 0,
        };
        volume.publish(files);
        volume
    }

    /// The volume's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Publishes `files` as a new version, atomically: a new timestamped directory, a link
    /// to it renamed over `..data`, the user-visible links added, the old version removed.
    pub fn publish(&mut self, files: &[(&str, &str)]) {
        self.versions += 1;
        let stamp = format!("..2026_12_03_10_{:02}_00.123", self.versions);
        let version = self.dir.join(&stamp);
        std::fs::create_dir(&version).unwrap();
        for (name, text) in files {
            let path = version.join(name);
            std::fs::write(&path, text).unwrap();
            // Every version carries the same time: only the file itself tells them apart.
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(same_time()).unwrap();
        }
        let data = self.dir.join("..data");
        let old = std::fs::read_link(&data).ok();
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
        std::fs::rename(&tmp, &data).unwrap();
        for (name, _) in files {
            let link = self.dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}
