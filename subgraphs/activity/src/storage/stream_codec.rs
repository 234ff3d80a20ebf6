//! How a workout's points are kept by both backends: in chunks of up to
//! [`CHUNK_POINTS`] points, each one compressed blob holding every channel
//! as a column. A chunk, not a row or document per point: a one-hour run at
//! one point a second is one chunk of about 20 KB.
//!
//! Inside a chunk (before deflate): a version byte, the point count, then
//! each channel in [`CHANNELS`] order as a presence bitmap followed by the
//! zig-zag varint deltas of its present values, in fixed point (times in
//! milliseconds from the activity's start, positions in 1e-7 degrees,
//! distance and altitude in centimetres, speed in mm/s). Deltas of smooth
//! series are small, so most values take one or two bytes.

use std::io::{Read, Write};

use anyhow::{bail, ensure, Context as _};
use chrono::{DateTime, Duration, Utc};

use crate::domain::recording::Sample;

/// Points per chunk: small enough that a chunk stays far below MongoDB's
/// 16 MB document limit whatever it holds, large enough that a typical
/// workout is one chunk.
pub const CHUNK_POINTS: usize = 10_000;

const VERSION: u8 = 1;
/// Most bytes a chunk may inflate to: 10 000 points × 9 channels × 10 bytes
/// of varint, with room; a stored blob that inflates past it is damaged.
const MAX_INFLATED: u64 = 2 * 1024 * 1024;

/// The channels, in their order inside a chunk.
const CHANNELS: usize = 9;

/// A sample's channels as fixed-point integers (`None`: not recorded).
fn fixed(sample: &Sample, start: DateTime<Utc>) -> [Option<i64>; CHANNELS] {
    let scaled = |v: Option<f64>, scale: f64| v.map(|v| (v * scale).round() as i64);
    let (lat, lon) = match sample.position {
        Some((lat, lon)) => (Some(lat), Some(lon)),
        None => (None, None),
    };
    [
        Some((sample.time - start).num_milliseconds()),
        scaled(lat, 1e7),
        scaled(lon, 1e7),
        scaled(sample.distance_m, 100.0),
        scaled(sample.altitude_m, 100.0),
        scaled(sample.speed_mps, 1000.0),
        sample.heart_rate.map(i64::from),
        sample.cadence.map(i64::from),
        sample.power_w.map(i64::from),
    ]
}

fn sample_of(values: [Option<i64>; CHANNELS], start: DateTime<Utc>) -> anyhow::Result<Sample> {
    let real = |v: Option<i64>, scale: f64| v.map(|v| v as f64 / scale);
    let small = |v: Option<i64>| v.map(u16::try_from).transpose();
    Ok(Sample {
        time: start + Duration::milliseconds(values[0].context("a point without a time")?),
        position: match (values[1], values[2]) {
            (Some(lat), Some(lon)) => Some((lat as f64 / 1e7, lon as f64 / 1e7)),
            _ => None,
        },
        distance_m: real(values[3], 100.0),
        altitude_m: real(values[4], 100.0),
        speed_mps: real(values[5], 1000.0),
        heart_rate: small(values[6])?,
        cadence: small(values[7])?,
        power_w: small(values[8])?,
    })
}

/// The samples (in time order) as stored chunks; times are kept relative to
/// `start`, the activity's start.
pub fn encode(samples: &[Sample], start: DateTime<Utc>) -> Vec<Vec<u8>> {
    samples
        .chunks(CHUNK_POINTS)
        .map(|chunk| encode_chunk(chunk, start))
        .collect()
}

fn encode_chunk(samples: &[Sample], start: DateTime<Utc>) -> Vec<u8> {
    let rows: Vec<[Option<i64>; CHANNELS]> = samples.iter().map(|s| fixed(s, start)).collect();
    let mut raw = vec![VERSION];
    put_varint(&mut raw, rows.len() as u64);
    for channel in 0..CHANNELS {
        let mut bitmap = vec![0u8; rows.len().div_ceil(8)];
        for (i, row) in rows.iter().enumerate() {
            if row[channel].is_some() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        raw.extend_from_slice(&bitmap);
        let mut previous = 0i64;
        for value in rows.iter().filter_map(|row| row[channel]) {
            put_varint(&mut raw, zigzag(value.wrapping_sub(previous)));
            previous = value;
        }
    }
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = deflater.write_all(&raw);
    deflater.finish().unwrap_or_default()
}

/// The samples of stored chunks, in order.
pub fn decode(chunks: &[Vec<u8>], start: DateTime<Utc>) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for chunk in chunks {
        decode_chunk(chunk, start, &mut samples)?;
    }
    Ok(samples)
}

fn decode_chunk(chunk: &[u8], start: DateTime<Utc>, out: &mut Vec<Sample>) -> anyhow::Result<()> {
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(chunk)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut raw)
        .context("inflating a stream chunk")?;
    ensure!(
        raw.len() as u64 <= MAX_INFLATED,
        "a stream chunk inflates too far"
    );
    let mut input = raw.as_slice();
    ensure!(
        take_byte(&mut input)? == VERSION,
        "unknown stream chunk version"
    );
    let count = usize::try_from(take_varint(&mut input)?)?;
    ensure!(count <= CHUNK_POINTS, "a stream chunk of {count} points");
    let mut rows = vec![[None; CHANNELS]; count];
    for channel in 0..CHANNELS {
        let bitmap_len = count.div_ceil(8);
        ensure!(input.len() >= bitmap_len, "a stream chunk cut short");
        let (bitmap, rest) = input.split_at(bitmap_len);
        input = rest;
        let mut previous = 0i64;
        for (i, row) in rows.iter_mut().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                previous = previous.wrapping_add(unzigzag(take_varint(&mut input)?));
                row[channel] = Some(previous);
            }
        }
    }
    ensure!(input.is_empty(), "trailing bytes in a stream chunk");
    for row in rows {
        out.push(sample_of(row, start)?);
    }
    Ok(())
}

/// Chunks as one blob (each after its length, u32 little-endian), for a
/// backend that keeps a recording's points in one column.
pub fn pack(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(chunks.iter().map(|c| c.len() + 4).sum());
    for chunk in chunks {
        blob.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        blob.extend_from_slice(chunk);
    }
    blob
}

/// The chunks of a [`pack`]ed blob.
pub fn unpack(mut blob: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut chunks = Vec::new();
    while !blob.is_empty() {
        ensure!(blob.len() >= 4, "a stream blob cut short");
        let (length, rest) = blob.split_at(4);
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        ensure!(rest.len() >= length, "a stream blob cut short");
        let (chunk, rest) = rest.split_at(length);
        chunks.push(chunk.to_vec());
        blob = rest;
    }
    Ok(chunks)
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_byte(input: &mut &[u8]) -> anyhow::Result<u8> {
    let (&first, rest) = input.split_first().context("a stream chunk cut short")?;
    *input = rest;
    Ok(first)
}

fn take_varint(input: &mut &[u8]) -> anyhow::Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = take_byte(input)?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("a varint longer than 64 bits")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn run(points: usize) -> (DateTime<Utc>, Vec<Sample>) {
        let start = Utc
            .with_ymd_and_hms(2024, 5, 1, 7, 0, 0)
            .single()
            .expect("test data");
        let samples = (0..points)
            .map(|i| {
                let i = i as f64;
                Sample {
                    time: start + Duration::milliseconds((i * 1000.0) as i64 + 250),
                    position: (i as usize % 50 != 7)
                        .then(|| (51.5 + i * 1.1e-5, -0.1234567 + i * 2.3e-5)),
                    distance_m: Some(i * 2.81),
                    altitude_m: Some(12.3 + (i / 60.0).sin() * 8.0),
                    speed_mps: Some(2.812),
                    heart_rate: (!(i as usize).is_multiple_of(300))
                        .then_some(140 + (i as u16 % 20)),
                    cadence: Some(86),
                    power_w: None,
                }
            })
            .collect();
        (start, samples)
    }

    #[test]
    fn what_is_stored_is_what_was_recorded_to_the_stored_precision() {
        let (start, samples) = run(CHUNK_POINTS + 1_234);
        let chunks = encode(&samples, start);
        assert_eq!(chunks.len(), 2);
        let back = decode(&unpack(&pack(&chunks)).expect("test data"), start).expect("test data");
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!(a.time, b.time);
            assert_eq!(a.position.is_some(), b.position.is_some());
            if let (Some(p), Some(q)) = (a.position, b.position) {
                assert!((p.0 - q.0).abs() <= 5e-8 && (p.1 - q.1).abs() <= 5e-8);
            }
            assert!(
                (a.distance_m.expect("test data") - b.distance_m.expect("test data")).abs()
                    <= 0.005
            );
            assert!(
                (a.altitude_m.expect("test data") - b.altitude_m.expect("test data")).abs()
                    <= 0.005
            );
            assert_eq!(a.speed_mps, b.speed_mps);
            assert_eq!(
                (a.heart_rate, a.cadence, a.power_w),
                (b.heart_rate, b.cadence, b.power_w)
            );
        }
        // An hour at one point a second, every channel but power.
        let (start, hour) = run(3_600);
        let bytes: usize = encode(&hour, start).iter().map(Vec::len).sum();
        assert!(bytes < 40_000, "{bytes} bytes for an hour");
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let (start, samples) = run(100);
        let chunk = encode(&samples, start).remove(0);
        for cut in [0, 1, chunk.len() / 2, chunk.len() - 1] {
            assert!(
                decode(&[chunk[..cut].to_vec()], start).is_err(),
                "cut at {cut}"
            );
        }
        let mut flipped = chunk.clone();
        flipped[chunk.len() / 2] ^= 0x55;
        let _ = decode(&[flipped], start);
        assert!(decode(&[b"not deflate".to_vec()], start).is_err());
    }
}
