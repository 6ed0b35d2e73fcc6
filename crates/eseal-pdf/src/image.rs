//! The seal picture: a PNG turned once into an RGB image XObject with a soft mask.
//!
//! Conversion and compression happen when the seal is loaded, not per stamping: a
//! [`SealImage`] is reused for every document sealed with that seal.

use std::io::Cursor;

use super::error::{PdfError, Result};
use super::filter::deflate;

/// Largest accepted image side in pixels.
const MAX_SIDE: u32 = 8192;

/// A seal picture ready to embed: Flate-compressed RGB samples and alpha samples.
#[derive(Clone, Debug)]
pub struct SealImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// zlib-compressed 8-bit RGB samples.
    pub rgb: Vec<u8>,
    /// zlib-compressed 8-bit alpha samples; `None` for an opaque image.
    pub alpha: Option<Vec<u8>>,
}

impl SealImage {
    /// Decodes a PNG (any colour type and depth; transparency kept as a soft mask).
    pub fn from_png(png_bytes: &[u8]) -> Result<SealImage> {
        let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader =
            decoder.read_info().map_err(|e| PdfError::Image(format!("not a readable PNG: {e}")))?;
        let (width, height) = (reader.info().width, reader.info().height);
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(PdfError::Image(format!(
                "{width}x{height} pixels; sides must be 1 to {MAX_SIDE}"
            )));
        }
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| PdfError::Image("the PNG is too large".into()))?;
        let mut buf = vec![0u8; size];
        let frame = reader
            .next_frame(&mut buf)
            .map_err(|e| PdfError::Image(format!("the PNG does not decode: {e}")))?;
        let channels = match frame.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => {
                return Err(PdfError::Image("an indexed PNG did not expand".into()));
            }
        };
        let pixels = (width as usize) * (height as usize);
        let samples = &buf[..frame.buffer_size().min(buf.len())];
        if samples.len() < pixels * channels {
            return Err(PdfError::Image("the PNG has fewer pixels than its size says".into()));
        }
        let mut rgb = Vec::with_capacity(pixels * 3);
        let mut alpha = Vec::with_capacity(pixels);
        for px in samples.chunks_exact(channels).take(pixels) {
            match channels {
                1 => rgb.extend_from_slice(&[px[0], px[0], px[0]]),
                2 => {
                    rgb.extend_from_slice(&[px[0], px[0], px[0]]);
                    alpha.push(px[1]);
                }
                3 => rgb.extend_from_slice(px),
                _ => {
                    rgb.extend_from_slice(&px[..3]);
                    alpha.push(px[3]);
                }
            }
        }
        let opaque = alpha.is_empty() || alpha.iter().all(|a| *a == 255);
        Ok(SealImage {
            width,
            height,
            rgb: deflate(&rgb),
            alpha: (!opaque).then(|| deflate(&alpha)),
        })
    }
}
