//! Reading what watches and apps export: FIT ([`fit`]), GPX and TCX ([`xml`]),
//! single or gzipped, loose or in a zip of many ([`archive`], e.g. a Strava or
//! Garmin bulk export). Each file becomes [`Recording`]s, checked by
//! [`Recording::checked`], or a [`FileRefusal`] saying why not.
//!
//! The format is recognised from the bytes, never from the name: a file
//! named `.gpx` that holds a FIT file is read as FIT.

pub mod archive;
pub mod export;
pub mod fit;
mod sport;
pub mod xml;

use chrono::{DateTime, Utc};

use sha2::{Digest, Sha256};

use crate::domain::{
    imports::{hex, EntrySource, ReadUpload, ReadWorkout, UploadReader},
    recording::{FileFormat, FileRefusal, Recording},
};

pub use sport::activity_type_of;

/// Largest file (once decompressed) an import reads.
pub const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;

/// The format of a file, from its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<FileFormat> {
    if bytes.len() >= 12 && &bytes[8..12] == b".FIT" {
        return Some(FileFormat::Fit);
    }
    // The root element of an XML file, past its prolog and comments.
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let mut rest: &str = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.split_once("?>")?.1;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->")?.1;
        } else if let Some(after) = rest.strip_prefix("<!DOCTYPE") {
            // Past the declaration and its internal subset, if any: the
            // parser then refuses the DTD itself, with its reason.
            let subset = after.find('[').filter(|&open| after.find('>') > Some(open));
            rest = match subset {
                Some(_) => after.split_once("]>")?.1,
                None => after.split_once('>')?.1,
            };
        } else if let Some(after) = rest.strip_prefix('<') {
            let name: String = after
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            let local = name.rsplit(':').next().unwrap_or_default();
            return match local {
                "gpx" => Some(FileFormat::Gpx),
                "TrainingCenterDatabase" => Some(FileFormat::Tcx),
                _ => None,
            };
        } else {
            return None;
        }
    }
}

/// Every workout one file holds, each checked on its own: a multi-sport
/// file whose transition is too short to import still gives its legs.
/// `Err` when the file as a whole cannot be read.
pub fn read(
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Result<Recording, FileRefusal>>, FileRefusal> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileRefusal::TooLarge {
            limit_mb: (MAX_FILE_BYTES / (1024 * 1024)) as u64,
        });
    }
    let recordings = match sniff(bytes).ok_or(FileRefusal::UnknownFormat)? {
        FileFormat::Fit => fit::read(bytes)?,
        FileFormat::Gpx => xml::read_gpx(bytes)?,
        FileFormat::Tcx => xml::read_tcx(bytes)?,
    };
    if recordings.is_empty() {
        return Err(FileRefusal::NoWorkout);
    }
    Ok(recordings.into_iter().map(|r| r.checked(now)).collect())
}

/// The reader the importer uses: [`archive::expand`], then [`read`] on
/// each file.
pub struct Reader;

impl UploadReader for Reader {
    fn read(
        &self,
        name: &str,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ReadUpload, FileRefusal> {
        let mut workouts = Vec::new();
        let skipped = archive::expand(name, bytes, |entry| {
            let content = entry.content.and_then(|bytes| {
                let sha256 = hex(&Sha256::digest(&bytes));
                Ok((sha256, read(&bytes, now)?))
            });
            match content {
                Err(refusal) => workouts.push(ReadWorkout {
                    name: entry.name,
                    sha256: String::new(),
                    source: entry.source,
                    workout: Err(refusal),
                }),
                Ok((sha256, read)) => {
                    workouts.extend(read.into_iter().map(|workout| ReadWorkout {
                        name: entry.name.clone(),
                        sha256: sha256.clone(),
                        source: entry.source,
                        workout,
                    }))
                }
            }
        })?;
        Ok(ReadUpload {
            workouts,
            skipped: u32::try_from(skipped).unwrap_or(u32::MAX),
        })
    }

    fn unpack(&self, bytes: &[u8], source: EntrySource) -> Result<Vec<u8>, FileRefusal> {
        archive::unpack(bytes, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_bytes() {
        let mut fit = vec![14u8, 0x10, 0, 0, 0, 0, 0, 0];
        fit.extend_from_slice(b".FIT");
        assert_eq!(sniff(&fit), Some(FileFormat::Fit));
        let gpx = "\u{feff}<?xml version=\"1.0\"?>\n<!-- exported --><gpx version=\"1.1\">";
        assert_eq!(sniff(gpx.as_bytes()), Some(FileFormat::Gpx));
        let tcx = "<?xml version=\"1.0\"?><ns:TrainingCenterDatabase xmlns:ns=\"x\">";
        assert_eq!(sniff(tcx.as_bytes()), Some(FileFormat::Tcx));
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b"PK\x03\x04"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"<?xml never closed"), None);
    }
}

#[cfg(test)]
mod fixtures;
