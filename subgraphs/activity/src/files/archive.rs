//! What an upload unpacks to: a zip of many files (a bulk export), a gzipped
//! file (Strava exports `.fit.gz`), or the file itself.
//!
//! Every size is counted while decompressing, never taken from a header, so
//! a zip bomb costs at most [`MAX_FILE_BYTES`] per entry and
//! [`MAX_EXPANDED_BYTES`] per archive before it is refused. Entries are
//! handed over one at a time, so memory holds one file, not the export.

use std::io::{Cursor, Read};

use super::MAX_FILE_BYTES;
use crate::domain::{imports::EntrySource, recording::FileRefusal};

/// Most workout files one archive may hold.
pub const MAX_ENTRIES: usize = 2_000;
/// Most bytes one archive may expand to, all entries together.
pub const MAX_EXPANDED_BYTES: u64 = 512 * 1024 * 1024;
/// Longest entry name reported back (zip names are the uploader's choice).
const NAME_MAX_CHARS: usize = 200;

/// Names of files an import reads; anything else in an archive (photos,
/// CSV summaries, a nested zip) is skipped and counted.
const WORKOUT_EXTENSIONS: [&str; 3] = [".fit", ".gpx", ".tcx"];

/// One file out of an upload: its name and bytes, or why it cannot be read.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub source: EntrySource,
    pub content: Result<Vec<u8>, FileRefusal>,
}

/// The file at `source` in an upload, unpacked as [`expand`] did.
pub fn unpack(bytes: &[u8], source: EntrySource) -> Result<Vec<u8>, FileRefusal> {
    match source {
        EntrySource::Whole => read_at_most(bytes, MAX_FILE_BYTES as u64),
        EntrySource::Gzipped => gunzip(bytes, MAX_FILE_BYTES as u64),
        EntrySource::Zipped { index, gzipped } => {
            let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
            let entry = zip.by_index(index).map_err(damaged)?;
            let packed = read_at_most(entry, MAX_FILE_BYTES as u64)?;
            if gzipped {
                gunzip(&packed, MAX_FILE_BYTES as u64)
            } else {
                Ok(packed)
            }
        }
    }
}

/// Calls `visit` with each workout file of an upload named `name`; how many
/// entries of an archive were not workout files. `Err` when the upload
/// itself is unreadable (a damaged zip) or holds too many files.
pub fn expand(
    name: &str,
    bytes: &[u8],
    mut visit: impl FnMut(Entry),
) -> Result<usize, FileRefusal> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return expand_zip(bytes, visit);
    }
    let name = clip(name);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let inner = name.strip_suffix(".gz").unwrap_or(&name).to_owned();
        visit(Entry {
            name: inner,
            source: EntrySource::Gzipped,
            content: gunzip(bytes, MAX_FILE_BYTES as u64),
        });
    } else {
        let content = if bytes.len() > MAX_FILE_BYTES {
            Err(too_large())
        } else {
            Ok(bytes.to_vec())
        };
        visit(Entry {
            name,
            source: EntrySource::Whole,
            content,
        });
    }
    Ok(0)
}

fn expand_zip(bytes: &[u8], mut visit: impl FnMut(Entry)) -> Result<usize, FileRefusal> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    let names: Vec<(usize, String)> = (0..zip.len())
        .filter_map(|index| {
            let entry = zip.by_index_raw(index).ok()?;
            let name = entry.name().ok()?.into_owned();
            (!entry.is_dir()).then_some((index, name))
        })
        .collect();
    let (workouts, others): (Vec<_>, Vec<_>) = names
        .into_iter()
        .partition(|(_, name)| is_workout_name(name));
    if workouts.len() > MAX_ENTRIES {
        return Err(FileRefusal::TooManyFiles { limit: MAX_ENTRIES });
    }
    let mut budget = MAX_EXPANDED_BYTES;
    for (index, name) in workouts {
        let content = read_entry(&mut zip, index, &name, &mut budget);
        let gzipped = name.to_ascii_lowercase().ends_with(".gz");
        let name = clip(name.strip_suffix(".gz").unwrap_or(&name));
        visit(Entry {
            name,
            source: EntrySource::Zipped { index, gzipped },
            content,
        });
    }
    Ok(others.len())
}

fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    name: &str,
    budget: &mut u64,
) -> Result<Vec<u8>, FileRefusal> {
    if *budget == 0 {
        return Err(FileRefusal::Damaged(format!(
            "the archive expands to more than {} MB",
            MAX_EXPANDED_BYTES / (1024 * 1024)
        )));
    }
    let entry = zip.by_index(index).map_err(damaged)?;
    let limit = (MAX_FILE_BYTES as u64).min(*budget);
    let bytes = read_at_most(entry, limit)?;
    *budget -= bytes.len() as u64;
    if name.to_ascii_lowercase().ends_with(".gz") {
        let inner = gunzip(&bytes, (MAX_FILE_BYTES as u64).min(*budget))?;
        *budget -= inner.len() as u64;
        return Ok(inner);
    }
    Ok(bytes)
}

fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, FileRefusal> {
    read_at_most(flate2::read::GzDecoder::new(bytes), limit)
}

/// All of `reader` if it holds at most `limit` bytes.
fn read_at_most(reader: impl Read, limit: u64) -> Result<Vec<u8>, FileRefusal> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(damaged)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn is_workout_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or_default();
    // macOS's resource forks are named like the files they describe.
    if lower.starts_with("__macosx/") || file.starts_with("._") {
        return false;
    }
    let file = file.strip_suffix(".gz").unwrap_or(file);
    WORKOUT_EXTENSIONS.iter().any(|ext| file.ends_with(ext))
}

fn clip(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(NAME_MAX_CHARS)
        .collect()
}

fn too_large() -> FileRefusal {
    FileRefusal::TooLarge {
        limit_mb: (MAX_FILE_BYTES / (1024 * 1024)) as u64,
    }
}

fn damaged(error: impl std::fmt::Display) -> FileRefusal {
    FileRefusal::Damaged(error.to_string().chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            out.start_file(*name, options).expect("test data");
            out.write_all(bytes).expect("test data");
        }
        out.finish().expect("test data").into_inner()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("test data");
        encoder.finish().expect("test data")
    }

    fn entries(name: &str, bytes: &[u8]) -> (Vec<Entry>, Result<usize, FileRefusal>) {
        let mut seen = Vec::new();
        let skipped = expand(name, bytes, |entry| seen.push(entry));
        (seen, skipped)
    }

    #[test]
    fn a_bulk_export_gives_its_workout_files_and_skips_the_rest() {
        let export = zip_of(&[
            ("activities/1.fit.gz", &gzip(b"fit bytes")),
            ("activities/2.gpx", b"<gpx/>"),
            ("activities/3.TCX", b"<tcx/>"),
            ("media/photo.jpg", b"jpeg"),
            ("activities.csv", b"id,name"),
            ("__MACOSX/activities/._2.gpx", b"fork"),
        ]);
        let (seen, skipped) = entries("export.zip", &export);
        assert_eq!(skipped, Ok(3));
        let got: Vec<(&str, &[u8])> = seen
            .iter()
            .map(|e| (e.name.as_str(), e.content.as_deref().expect("test data")))
            .collect();
        assert_eq!(
            got,
            vec![
                ("activities/1.fit", &b"fit bytes"[..]),
                ("activities/2.gpx", b"<gpx/>"),
                ("activities/3.TCX", b"<tcx/>"),
            ]
        );
        let (seen, _) = entries("run.fit.gz", &gzip(b"fit"));
        assert_eq!(seen[0].name, "run.fit");
        assert_eq!(seen[0].content.as_deref(), Ok(&b"fit"[..]));
    }

    #[test]
    fn a_bomb_is_refused_per_entry_and_the_rest_still_read() {
        let zeros = vec![0u8; MAX_FILE_BYTES + 1];
        let export = zip_of(&[
            ("big.fit", &zeros),
            ("big2.gpx.gz", &gzip(&zeros)),
            ("small.gpx", b"<gpx/>"),
        ]);
        // 26 MB of zeros deflate to about 26 KB each.
        assert!(export.len() < 200_000, "{}", export.len());
        let (seen, skipped) = entries("bomb.zip", &export);
        assert_eq!(skipped, Ok(0));
        assert_eq!(seen[0].content, Err(too_large()));
        assert_eq!(seen[1].content, Err(too_large()));
        assert_eq!(seen[2].content.as_deref(), Ok(&b"<gpx/>"[..]));
        let (seen, _) = entries("bomb.fit.gz", &gzip(&zeros));
        assert_eq!(seen[0].content, Err(too_large()));
    }

    #[test]
    fn a_damaged_or_crowded_archive_is_refused_whole() {
        let mut cut = zip_of(&[("a.fit", b"x")]);
        cut.truncate(cut.len() - 10);
        assert!(matches!(
            entries("cut.zip", &cut).1,
            Err(FileRefusal::Damaged(_))
        ));
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("{i}.gpx")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(
            entries("many.zip", &zip_of(&files)).1,
            Err(FileRefusal::TooManyFiles { limit: MAX_ENTRIES })
        );
        let (seen, _) = entries("bad.gz", &[0x1f, 0x8b, 1, 2, 3]);
        assert!(matches!(seen[0].content, Err(FileRefusal::Damaged(_))));
    }
}
