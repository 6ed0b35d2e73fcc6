//! Where the seal goes: a page and a rectangle measured from a corner of the page as it is
//! displayed (after /Rotate, within the CropBox), converted to the page's user space.

use super::document::Page;
use super::error::{PdfError, Result};

/// Points per millimetre (1 pt = 1/72 in).
const POINTS_PER_MM: f64 = 72.0 / 25.4;
/// Rounding slack when checking that a rectangle lies on the page.
const EPSILON: f64 = 1e-6;

/// The unit of a seal rectangle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unit {
    /// PDF points (1/72 inch).
    #[default]
    Points,
    /// Millimetres.
    Millimetres,
}

/// The corner of the displayed page that a rectangle is measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Corner {
    /// Bottom left (PDF's own convention).
    #[default]
    BottomLeft,
    /// Bottom right.
    BottomRight,
    /// Top left.
    TopLeft,
    /// Top right.
    TopRight,
}

/// A seal rectangle: `x` and `y` are the distances from the named corner of the displayed
/// page to the nearest corner of the seal; `width` and `height` its size, all in `unit`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SealRect {
    /// Horizontal distance from the corner.
    pub x: f64,
    /// Vertical distance from the corner.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// Unit of the four numbers.
    pub unit: Unit,
    /// The corner measured from.
    pub corner: Corner,
}

/// Which page carries the seal, and where (no rectangle: an invisible seal).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// 1-based page number, or negative counting from the last page (-1 is the last).
    pub page: i64,
    /// The visible rectangle, or `None` for an invisible seal.
    pub rect: Option<SealRect>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement { page: 1, rect: None }
    }
}

impl Placement {
    /// The 0-based page index in a document of `count` pages.
    pub fn page_index(&self, count: u32) -> Result<u32> {
        let index = match self.page {
            p if p >= 1 => p - 1,
            p if p <= -1 => i64::from(count) + p,
            _ => -1,
        };
        u32::try_from(index)
            .ok()
            .filter(|i| *i < count)
            .ok_or(PdfError::PageOutOfRange { requested: self.page, count })
    }
}

/// A seal rectangle resolved on a page.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolvedRect {
    /// The annotation /Rect in user space: [llx lly urx ury].
    pub rect: [f64; 4],
    /// Width and height as displayed, in points (the appearance's /BBox).
    pub display_size: (f64, f64),
    /// The appearance /Matrix that turns upright content into the page's rotation.
    pub matrix: [f64; 6],
}

/// Resolves `rect` on `page`.
pub fn resolve(page: &Page, rect: &SealRect) -> Result<ResolvedRect> {
    let scale = match rect.unit {
        Unit::Points => 1.0,
        Unit::Millimetres => POINTS_PER_MM,
    };
    let (x, y, w, h) = (rect.x * scale, rect.y * scale, rect.width * scale, rect.height * scale);
    if ![x, y, w, h].iter().all(|v| v.is_finite()) {
        return Err(PdfError::Placement("the rectangle has a non-finite number".into()));
    }
    if w <= 0.0 || h <= 0.0 {
        return Err(PdfError::Placement(format!(
            "the rectangle has zero or negative size ({} x {})",
            rect.width, rect.height
        )));
    }
    let [x0, y0, x1, y1] = page.crop_box;
    let (cw, ch) = (x1 - x0, y1 - y0);
    let (page_w, page_h) = if page.rotate % 180 == 90 { (ch, cw) } else { (cw, ch) };
    // Lower-left corner of the seal in display coordinates (origin at the displayed bottom left).
    let (dx, dy) = match rect.corner {
        Corner::BottomLeft => (x, y),
        Corner::BottomRight => (page_w - x - w, y),
        Corner::TopLeft => (x, page_h - y - h),
        Corner::TopRight => (page_w - x - w, page_h - y - h),
    };
    if x < -EPSILON
        || y < -EPSILON
        || dx < -EPSILON
        || dy < -EPSILON
        || dx + w > page_w + EPSILON
        || dy + h > page_h + EPSILON
    {
        return Err(PdfError::Placement(format!(
            "the rectangle does not fit on page {}, which is {:.1} x {:.1} pt ({:.1} x {:.1} mm) as displayed",
            page.index + 1,
            page_w,
            page_h,
            page_w / POINTS_PER_MM,
            page_h / POINTS_PER_MM
        )));
    }
    // Display point -> user space, for each rotation (the page is turned clockwise by /Rotate).
    let to_user = |dx: f64, dy: f64| -> (f64, f64) {
        match page.rotate {
            90 => (x0 + cw - dy, y0 + dx),
            180 => (x0 + cw - dx, y0 + ch - dy),
            270 => (x0 + dy, y0 + ch - dx),
            _ => (x0 + dx, y0 + dy),
        }
    };
    let (ax, ay) = to_user(dx, dy);
    let (bx, by) = to_user(dx + w, dy + h);
    Ok(ResolvedRect {
        rect: [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)],
        display_size: (w, h),
        matrix: rotation_matrix(page.rotate),
    })
}

impl ResolvedRect {
    /// The appearance geometry for an existing widget rectangle (user space) on `page`.
    pub fn from_user_rect(page: &Page, rect: [f64; 4]) -> ResolvedRect {
        let rect = [
            rect[0].min(rect[2]),
            rect[1].min(rect[3]),
            rect[0].max(rect[2]),
            rect[1].max(rect[3]),
        ];
        let (w, h) = (rect[2] - rect[0], rect[3] - rect[1]);
        let display_size = if page.rotate % 180 == 90 { (h, w) } else { (w, h) };
        ResolvedRect { rect, display_size, matrix: rotation_matrix(page.rotate) }
    }

    /// Whether the rectangle has an area (a visible widget).
    pub fn is_visible(&self) -> bool {
        self.display_size.0 > 0.0 && self.display_size.1 > 0.0
    }
}

/// The appearance /Matrix that turns upright content into a page turned by `rotate`.
fn rotation_matrix(rotate: u16) -> [f64; 6] {
    match rotate {
        90 => [0.0, 1.0, -1.0, 0.0, 0.0, 0.0],
        180 => [-1.0, 0.0, 0.0, -1.0, 0.0, 0.0],
        270 => [0.0, -1.0, 1.0, 0.0, 0.0, 0.0],
        _ => [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    }
}
