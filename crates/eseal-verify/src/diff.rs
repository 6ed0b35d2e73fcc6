//! What later revisions changed after a signature, and whether each change keeps the
//! signature meaningful.
//!
//! Every allowed change is a way to alter what a reader shows without breaking the signed
//! bytes (incremental saving and shadow attacks), so the rules are an allow-list, after the
//! whitelists of pyHanko's difference analysis and EU DSS's PDF modification checks, made
//! narrower where they trust a /Type or a path. EU DSS sorts the same changes into groups
//! (validation data and document timestamps; form filling and signing; annotations; anything
//! else) and separately reports annotations that overlap page content; we do both here:
//!
//! - New objects are free, unless they fill a reference the signed revision already made
//!   (a dangling reference filled in) or they are annotations (see below).
//! - Signatures and document timestamps, their fields and widgets: new ones, or an empty
//!   signature field of the signed revision being filled (/V, /AP, /AS, /F, /Ff). A signed
//!   field may only be locked (/Ff); its /F stays, as pyHanko requires (a flag could hide the
//!   signature's appearance).
//! - Validation data: the catalog's /DSS dictionary (only /Type, /VRI, /Certs, /CRLs, /OCSPs),
//!   its /VRI dictionary (entries only added, old entries unchanged, as pyHanko requires) and
//!   its /Certs, /CRLs, /OCSPs arrays. Nothing below them is ever rewritten: certificates,
//!   responses and VRI entries are added as new objects. Each of these containers counts only
//!   when the /DSS path is its only use in the signed revision: an object that a page (or
//!   anything else) also uses keeps that role, so a font reachable from /VRI is still a font.
//! - XMP metadata: the catalog's /Metadata stream (/Type /Metadata /Subtype /XML, used by
//!   nothing else) may be rewritten in place (staying the catalog's) or replaced by a new
//!   stream that is well-formed XML with an
//!   x:xmpmeta root and no DTD (pyHanko's check; entities are how XML smuggles content).
//! - The Info dictionary: /ModDate, /Producer and /Creator only. A signing tool records when
//!   and with what it saved the file (pyHanko's signing rewrites all three); pyHanko accepts any
//!   Info change, but /Title, /Author, /Subject, /Keywords and /CreationDate are claims about
//!   the document a viewer shows, so they stay.
//! - Field flags: /F of an annotation unless it shows or hides it (Hidden, NoView: hiding an
//!   overlay reveals what it covered), /Ff only setting ReadOnly (locking, what a /Lock dictionary asks for). pyHanko
//!   allows any /Ff; clearing ReadOnly or changing a field's kind is not a signer's business.
//! - Structure: the catalog's /AcroForm (its /Fields may grow, /SigFlags change), /Extensions
//!   and /Version; page /Annots lists that only grow with new objects.
//!
//! Everything else that changes an object of the signed revision is disallowed, and named
//! with the object's role and the keys changed. Roles come from where the signed revision
//! refers to an object (an annotation is whatever a page's /Annots holds, whatever its /Type),
//! and numbers are read through references (/Rect [1 0 R ...], /F, /Ff).
//!
//! Visual changes: a new annotation with an area on its page that is not hidden, an empty
//! signature field getting its appearance, and rewritten page content are reported with the
//! page and rectangle. After an approval signature, a new visible annotation that is not a
//! signature widget is disallowed: pyHanko's default policy refuses it too (annotations rank
//! above form filling and signing), and a seal that let a stamp, text box or opaque rectangle
//! cover the sealed text silently would seal nothing. A hidden one (Hidden or NoView, or no
//! area on the page) shows nothing and is allowed, where pyHanko refuses it. A new signature's visible widget is allowed and
//! reported. A certification restricts this further: P=1 allows no new annotation or
//! signature, P=2 no visible new field or annotation (pyHanko's default), P=3 allows
//! annotations (still reported as visual).
//!
//! Cost: one pass over the signed revision's objects (roles and references), one page-tree
//! walk of the current file, then work per changed object.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use eseal_pdf::XrefEntry;
use eseal_pdf::{Dictionary, Document, Object, ObjectId, PdfError, Source};

/// Where on which page a change shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VisualArea {
    /// The page, 1-based.
    pub page: u32,
    /// The rectangle [x1 y1 x2 y2] in default user space, clipped to the page's crop box.
    pub rect: [f64; 4],
}

/// One object that differs between the signed revision and the final file.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Change {
    /// The object number (0 for the trailer).
    pub object: u32,
    /// What the object is (page, catalog, form, signature, ...).
    pub role: String,
    /// What changed.
    pub description: String,
    /// Whether the change is permitted after signing.
    pub allowed: bool,
    /// Where the change shows on a page, when it does.
    pub visual: Option<VisualArea>,
}

/// Keys of the /DSS dictionary (ISO 32000-2 12.8.4.3).
const DSS_KEYS: &[&[u8]] = &[b"Type", b"VRI", b"Certs", b"CRLs", b"OCSPs"];
/// Info dictionary keys a later signer may set.
const INFO_KEYS: &[&[u8]] = &[b"ModDate", b"Producer", b"Creator"];
/// Annotation flags that keep an annotation from being shown: Hidden (2) and NoView (32).
const HIDDEN: i64 = 2;
const PRINT: i64 = 4;
const NO_VIEW: i64 = 32;
/// The annotation flags a later revision may change on an existing annotation: ReadOnly,
/// Locked, LockedContents (locking, what a signer does). Every other bit shows, hides or
/// prints it differently.
const LOCK_FLAGS: i64 = 64 | 128 | 512;
/// The ReadOnly field flag.
const READ_ONLY: i64 = 1;

/// The roles the signed revision gives to its objects.
struct Roles {
    root: ObjectId,
    form: Option<ObjectId>,
    info: Option<ObjectId>,
    metadata: Option<ObjectId>,
    /// /DSS, its /VRI dictionary and its arrays, when the /DSS path is their only use.
    dss: HashMap<ObjectId, &'static str>,
    /// Indirect /Fields and page /Annots arrays: they may grow.
    lists: HashMap<ObjectId, String>,
    /// Page objects: 0-based index.
    pages: HashMap<ObjectId, u32>,
    /// Content streams (and indirect content arrays) of pages: 0-based page index.
    page_content: HashMap<ObjectId, u32>,
    /// Annotations (whatever a page's /Annots holds): 0-based page index.
    annotations: HashMap<ObjectId, u32>,
    /// Form fields; for signature fields, whether they were filled.
    fields: HashMap<ObjectId, Option<bool>>,
    /// Crop boxes of the signed pages.
    crop_boxes: Vec<[f64; 4]>,
    /// Every object number some object of the signed revision refers to.
    referenced: HashSet<u32>,
    /// How many objects refer to each number (cross-reference and object streams not counted).
    referrers: HashMap<u32, u32>,
}

/// The pages of the current file (the annotations they hold and their crop boxes) and its form.
struct CurrentPages {
    annotations: HashMap<ObjectId, u32>,
    crop_boxes: Vec<[f64; 4]>,
    /// The fields of the final form (what /Fields reaches): a verifier checks their signatures.
    form_fields: HashSet<ObjectId>,
}

/// Lists the differences between `signed` (the document as the signature covered it, its
/// bytes ending at `covered_end`) and `current` (the whole file).
///
/// `certification` is the DocMDP permission of a certification signature (1, 2 or 3): after
/// P=1 only validation data and document timestamps may be added, after P=2 no new visible
/// annotation or field may appear, after P=3 annotations may.
pub fn changes_since<A: Source, B: Source>(
    signed: &Document<A>,
    current: &Document<B>,
    covered_end: u64,
    certification: Option<i64>,
) -> Result<Vec<Change>, PdfError> {
    let roles = Roles::read(signed)?;
    let mut out = Vec::new();
    let now = CurrentPages::read(current).unwrap_or_else(|e| {
        // Without the final pages and form, new annotations and signatures cannot be told apart.
        out.push(Change::new(
            0,
            "page tree",
            format!("the final file's pages or form cannot be read: {e}"),
            false,
        ));
        CurrentPages {
            annotations: HashMap::new(),
            crop_boxes: Vec::new(),
            form_fields: HashSet::new(),
        }
    });
    let trailer_change = |key: &[u8]| signed.trailer().get(key) != current.trailer().get(key);
    for key in [&b"Root"[..], b"Encrypt"] {
        if trailer_change(key) {
            out.push(Change::new(
                0,
                "trailer",
                format!("/{} replaced", String::from_utf8_lossy(key)),
                false,
            ));
        }
    }
    // The Info dictionary replaced by another object: judged like an update in place.
    let mut new_info = None;
    if trailer_change(b"Info") {
        let old = roles
            .info
            .map(|id| signed.dict(id, "the Info dictionary"))
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default();
        match current.trailer().get(b"Info") {
            None => out.push(Change::new(0, "trailer", "/Info removed".into(), true)),
            Some(Object::Reference(id)) => {
                new_info = Some(*id);
                let new = current.dict(*id, "the Info dictionary").unwrap_or_default();
                out.push(info_change(0, &old, &new));
            }
            Some(_) => {
                out.push(Change::new(0, "trailer", "/Info is not a reference".into(), false))
            }
        }
    }

    let (old_entries, new_entries) = (&signed.xref().entries, &current.xref().entries);
    let mut numbers: Vec<u32> = new_entries.keys().copied().collect();
    numbers.sort_unstable();
    let mut added = Vec::new();
    for number in numbers {
        let new_entry = new_entries[&number];
        let old_entry = old_entries.get(&number).copied();
        if Some(new_entry) == old_entry
            && unchanged_location(new_entry, covered_end, old_entries, new_entries)
        {
            continue;
        }
        let new_id = ObjectId::new(number, generation(new_entry));
        let change = |description: String| Change::new(number, "object", description, false);
        let new = match current.object(new_id) {
            Ok(o) => o,
            Err(e) => {
                out.push(change(format!("unreadable: {e}")));
                continue;
            }
        };
        match old_entry {
            None | Some(XrefEntry::Free) => {
                if roles.referenced.contains(&number) {
                    out.push(change("added where the signed revision already referred to it (a dangling reference filled in)".into()));
                } else if new_info == Some(new_id) {
                    // Judged with the trailer above.
                } else {
                    added.push((new_id, new));
                }
            }
            Some(old_entry) => {
                let old_id = ObjectId::new(number, generation(old_entry));
                if old_id != new_id {
                    out.push(change(format!("replaced under generation {}", new_id.generation)));
                    continue;
                }
                match signed.object(old_id) {
                    Ok(old) if old == new => {}
                    Ok(old) => out.push(classify(&roles, signed, current, old_id, &old, &new)),
                    Err(e) => out.push(change(format!("unreadable in the signed revision: {e}"))),
                }
            }
        }
    }
    for (number, entry) in old_entries {
        if *entry != XrefEntry::Free
            && matches!(new_entries.get(number), None | Some(XrefEntry::Free))
        {
            out.push(Change::new(*number, "object", "deleted".into(), false));
        }
    }
    for (id, object) in added {
        out.push(judge_new(current, &now, id, &object, certification));
    }
    out.sort_by_key(|c| c.object);
    Ok(out)
}

impl Change {
    fn new(object: u32, role: &str, description: String, allowed: bool) -> Change {
        Change { object, role: role.into(), description, allowed, visual: None }
    }

    /// Adds where the change shows, to the description too (the text report prints it).
    fn showing(mut self, area: Option<VisualArea>) -> Change {
        if let Some(area) = &area {
            let [a, b, c, d] = area.rect;
            self.description = format!(
                "{}; covers page {} at [{} {} {} {}]",
                self.description,
                area.page,
                num(a),
                num(b),
                num(c),
                num(d)
            );
        }
        self.visual = area;
        self
    }
}

/// A coordinate as text: at most two decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Judges an object the signed revision did not have.
fn judge_new<B: Source>(
    current: &Document<B>,
    now: &CurrentPages,
    id: ObjectId,
    object: &Object,
    certification: Option<i64>,
) -> Change {
    let Some(page) = now.annotations.get(&id).copied() else {
        let role = role_of_new(object);
        let refused = certification == Some(1) && role == "signature";
        let description = if refused {
            "an approval signature added after a certification permitting no changes (P=1)"
        } else {
            "added"
        };
        return Change::new(id.number, role, description.into(), !refused);
    };
    let dict = object.as_dict().cloned().unwrap_or_default();
    // A new signature's widget, when the final form lists its field: a verifier then checks
    // the signature. One the form does not list is an annotation that paints a seal.
    let signature_field = signature_field_of(current, id, &dict);
    let signature_widget = signature_field.is_some_and(|field| now.form_fields.contains(&field));
    let role = if signature_widget { "signature widget" } else { "annotation" };
    let area = visible_area(current, &dict, page, now.crop_boxes.get(page as usize));
    let refusal = match (certification, signature_widget, &area) {
        (Some(1), _, _) => Some("added after a certification permitting no changes (P=1)".to_string()),
        (Some(2), _, Some(_)) => Some("added, visible, after a certification permitting only form filling and signing (P=2)".to_string()),
        (Some(_), _, _) | (None, true, _) | (None, false, None) => None,
        (None, false, Some(_)) if signature_field.is_some() => {
            Some("added, visible over the signed page, after an approval signature: a signature widget whose field the form's /Fields does not list (its signature is checked by no verifier)".to_string())
        }
        (None, false, Some(_)) => Some("added, visible over the signed page, after an approval signature (an annotation is not a signature)".to_string()),
    };
    let subtype = dict
        .get(b"Subtype")
        .and_then(Object::as_name)
        .map(|s| format!(" /{}", String::from_utf8_lossy(s)))
        .unwrap_or_default();
    let description =
        refusal.clone().unwrap_or_else(|| format!("added{subtype} on page {}", page + 1));
    Change::new(id.number, role, description, refusal.is_none()).showing(area)
}

/// The field of a signature field or of the widget of one (through /Parent) whose value is a
/// signature, when `dict` (object `id`) is one: a new signature's widget, not an empty field
/// that only paints.
fn signature_field_of<S: Source>(
    doc: &Document<S>,
    id: ObjectId,
    dict: &Dictionary,
) -> Option<ObjectId> {
    let (mut node, mut current) = (id, dict.clone());
    let mut signed = false;
    for _ in 0..8 {
        signed |= is_signature_value(doc, current.get(b"V"));
        if let Some(ft) = current.get(b"FT") {
            let signature = doc.resolve(ft).ok().as_ref().and_then(Object::as_name) == Some(b"Sig");
            return (signed && signature).then_some(node);
        }
        node = current.get(b"Parent").and_then(Object::as_reference)?;
        current = doc.dict(node, "a field").ok()?;
    }
    None
}

/// A number, read through a reference.
fn number_in<S: Source>(doc: &Document<S>, value: Option<&Object>) -> Option<f64> {
    value.and_then(|v| doc.resolve(v).ok()).and_then(|v| v.as_f64())
}

/// Whether a field's /V is a signature (or document timestamp) dictionary.
fn is_signature_value<S: Source>(doc: &Document<S>, value: Option<&Object>) -> bool {
    value
        .and_then(|v| doc.resolve(v).ok())
        .as_ref()
        .and_then(Object::as_dict)
        .is_some_and(eseal_pdf::is_signature_dict)
}

/// Whether annotation flags keep an annotation off both screen and paper: Hidden, or NoView
/// without Print (12.5.3).
fn is_invisible(flags: i64) -> bool {
    flags & HIDDEN != 0 || flags & NO_VIEW != 0 && flags & PRINT == 0
}

/// An integer, read through a reference.
fn integer_in<S: Source>(doc: &Document<S>, value: Option<&Object>) -> Option<i64> {
    value.and_then(|v| doc.resolve(v).ok()).and_then(|v| v.as_i64())
}

/// The part of the page an annotation covers: its /Rect (numbers read through references)
/// clipped to the crop box, when it has an area and is not hidden.
fn visible_area<S: Source>(
    doc: &Document<S>,
    dict: &Dictionary,
    page: u32,
    crop: Option<&[f64; 4]>,
) -> Option<VisualArea> {
    if is_invisible(integer_in(doc, dict.get(b"F")).unwrap_or(0)) {
        return None;
    }
    // A /Rect that cannot be read is taken as the whole page: viewers draw what they can.
    let rect = dict.get(b"Rect").and_then(|r| doc.resolve(r).ok());
    let values: Vec<f64> = rect
        .as_ref()
        .and_then(Object::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| number_in(doc, Some(v)))
        .collect();
    let whole = crop.copied().unwrap_or([0.0, 0.0, f64::MAX, f64::MAX]);
    let [a, b, c, d] = match values.as_slice() {
        [a, b, c, d, ..] => [a, b, c, d],
        _ => [&whole[0], &whole[1], &whole[2], &whole[3]],
    };
    let (mut x1, mut y1, mut x2, mut y2) = (a.min(*c), b.min(*d), a.max(*c), b.max(*d));
    if let Some(crop) = crop {
        (x1, y1, x2, y2) = (x1.max(crop[0]), y1.max(crop[1]), x2.min(crop[2]), y2.min(crop[3]));
    }
    (x2 > x1 && y2 > y1).then_some(VisualArea { page: page + 1, rect: [x1, y1, x2, y2] })
}

/// Whether an entry that is the same in both revisions really points at the same signed bytes:
/// an offset inside the signed revision, or an object stream that did not change.
fn unchanged_location(
    entry: XrefEntry,
    covered_end: u64,
    old: &HashMap<u32, XrefEntry>,
    new: &HashMap<u32, XrefEntry>,
) -> bool {
    match entry {
        XrefEntry::Free => true,
        XrefEntry::InFile { offset, .. } => offset < covered_end,
        // The object stream itself must be a signed object stored in the file: an object
        // stream inside an object stream (or itself) is no location at all.
        XrefEntry::InStream { stream, .. } => match (old.get(&stream), new.get(&stream)) {
            (Some(a @ XrefEntry::InFile { offset, .. }), Some(b)) => {
                a == b && *offset < covered_end
            }
            _ => false,
        },
    }
}

fn generation(entry: XrefEntry) -> u16 {
    match entry {
        XrefEntry::InFile { generation, .. } => generation,
        _ => 0,
    }
}

impl CurrentPages {
    fn read<S: Source>(doc: &Document<S>) -> Result<CurrentPages, PdfError> {
        let form_fields = eseal_pdf::form_fields(doc)?.into_iter().filter_map(|f| f.id).collect();
        let mut now =
            CurrentPages { annotations: HashMap::new(), crop_boxes: Vec::new(), form_fields };
        for page in doc.pages()? {
            now.crop_boxes.push(page.crop_box);
            if let Some(Object::Array(annots)) =
                page.dict.get(b"Annots").and_then(|a| doc.resolve(a).ok())
            {
                for id in annots.iter().filter_map(Object::as_reference) {
                    now.annotations.entry(id).or_insert(page.index);
                }
            }
        }
        Ok(now)
    }
}

impl Roles {
    fn read<S: Source>(doc: &Document<S>) -> Result<Roles, PdfError> {
        let root = doc.root_id()?;
        let catalog = doc.catalog()?;
        let mut roles = Roles {
            root,
            form: catalog.get(b"AcroForm").and_then(Object::as_reference),
            info: doc.trailer().get(b"Info").and_then(Object::as_reference),
            metadata: catalog.get(b"Metadata").and_then(Object::as_reference),
            dss: HashMap::new(),
            lists: HashMap::new(),
            pages: HashMap::new(),
            page_content: HashMap::new(),
            annotations: HashMap::new(),
            fields: HashMap::new(),
            crop_boxes: Vec::new(),
            referenced: HashSet::new(),
            referrers: HashMap::new(),
        };
        if let Some(form) = catalog.get(b"AcroForm").map(|f| doc.resolve(f)).transpose()? {
            if let Some(fields) =
                form.as_dict().and_then(|f| f.get(b"Fields")).and_then(Object::as_reference)
            {
                roles.lists.insert(fields, "the form's /Fields".into());
            }
        }
        for page in doc.pages()? {
            roles.pages.insert(page.id, page.index);
            roles.crop_boxes.push(page.crop_box);
            let annots = match page.dict.get(b"Annots") {
                Some(Object::Reference(id)) => {
                    roles.lists.insert(*id, format!("/Annots of page {}", page.index + 1));
                    doc.object(*id).ok()
                }
                other => other.cloned(),
            };
            for id in annots
                .as_ref()
                .and_then(Object::as_array)
                .unwrap_or_default()
                .iter()
                .filter_map(Object::as_reference)
            {
                roles.annotations.entry(id).or_insert(page.index);
            }
            match page.dict.get(b"Contents") {
                Some(Object::Reference(id)) => {
                    roles.page_content.insert(*id, page.index);
                    if let Ok(Object::Array(items)) = doc.object_structure(*id) {
                        items.iter().filter_map(Object::as_reference).for_each(|c| {
                            roles.page_content.insert(c, page.index);
                        });
                    }
                }
                Some(Object::Array(items)) => {
                    items.iter().filter_map(Object::as_reference).for_each(|c| {
                        roles.page_content.insert(c, page.index);
                    })
                }
                _ => {}
            }
        }
        for field in eseal_pdf::form_fields(doc)? {
            let Some(id) = field.id else { continue };
            let signature = field.is_signature().then(|| field.dict.get(b"V").is_some());
            roles.fields.insert(id, signature);
            // Widgets of the field, when separate.
            if let Some(Object::Array(kids)) =
                field.dict.get(b"Kids").map(|k| doc.resolve(k)).transpose()?
            {
                for kid in kids.iter().filter_map(Object::as_reference) {
                    roles.fields.entry(kid).or_insert(signature);
                }
            }
        }
        // Validation data containers, found by their path from the catalog.
        if let Some(dss_value) = catalog.get(b"DSS") {
            if let Some(id) = dss_value.as_reference() {
                roles.dss.insert(id, "validation data (/DSS)");
            }
            if let Some(dss) = doc.resolve(dss_value)?.as_dict() {
                for (key, role) in [
                    (&b"VRI"[..], "validation data (/DSS /VRI)"),
                    (b"Certs", "validation data (/DSS /Certs)"),
                    (b"CRLs", "validation data (/DSS /CRLs)"),
                    (b"OCSPs", "validation data (/DSS /OCSPs)"),
                ] {
                    if let Some(id) = dss.get(key).and_then(Object::as_reference) {
                        roles.dss.insert(id, role);
                    }
                }
            }
        }
        // Every reference any object of the signed revision makes, and who makes it.
        for (number, entry) in &doc.xref().entries {
            if *entry == XrefEntry::Free {
                continue;
            }
            if let Ok(object) = doc.object_structure(ObjectId::new(*number, generation(*entry))) {
                let mut refs = Vec::new();
                collect_references(&object, &mut refs);
                let structural =
                    object.as_dict().is_some_and(|d| d.has_type(b"XRef") || d.has_type(b"ObjStm"));
                if !structural {
                    for r in &refs {
                        *roles.referrers.entry(*r).or_insert(0) += 1;
                    }
                }
                roles.referenced.extend(refs);
            }
        }
        // A container or metadata stream that something else also uses keeps that other role.
        let only_one_use = |id: &ObjectId, referrers: &HashMap<u32, u32>| {
            referrers.get(&id.number).copied().unwrap_or(0) <= 1
        };
        // A list that grows freely is a list only: an array that is also a page's /Contents,
        // another page's /Annots or anything else's keeps being that.
        let list_ids: Vec<ObjectId> = roles.lists.keys().copied().collect();
        for id in list_ids {
            if !only_one_use(&id, &roles.referrers)
                || roles.page_content.contains_key(&id)
                || roles.dss.contains_key(&id)
                || roles.annotations.contains_key(&id)
                || roles.pages.contains_key(&id)
            {
                roles.lists.remove(&id);
            }
        }
        roles.dss.retain(|id, _| only_one_use(id, &roles.referrers));
        if roles.metadata.is_some_and(|m| !only_one_use(&m, &roles.referrers)) {
            roles.metadata = None;
        }
        if roles.info.is_some_and(|i| roles.referrers.get(&i.number).copied().unwrap_or(0) > 0) {
            roles.info = None;
        }
        Ok(roles)
    }

    /// The role of an object of the signed revision no rule below covers, for the report.
    fn name(&self, id: ObjectId, object: &Object) -> String {
        if let Some(page) = self.page_content.get(&id) {
            return format!("content of page {}", page + 1);
        }
        if let Some(page) = self.annotations.get(&id) {
            return format!("annotation on page {}", page + 1);
        }
        if self.fields.contains_key(&id) {
            return "form field".into();
        }
        match object.as_dict().and_then(|d| d.get(b"Type")).and_then(Object::as_name) {
            Some(t) => format!("object (/Type /{})", String::from_utf8_lossy(t)),
            None if matches!(object, Object::Stream(_)) => "stream".into(),
            None => "object".into(),
        }
    }
}

/// Every reference `object` makes, once per occurrence (two references from one object are
/// two uses).
fn collect_references(object: &Object, into: &mut Vec<u32>) {
    match object {
        Object::Reference(id) => into.push(id.number),
        Object::Array(items) => items.iter().for_each(|i| collect_references(i, into)),
        Object::Dictionary(d) => d.iter().for_each(|(_, v)| collect_references(v, into)),
        Object::Stream(s) => s.dict.iter().for_each(|(_, v)| collect_references(v, into)),
        _ => {}
    }
}

fn role_of_new(object: &Object) -> &'static str {
    let Some(dict) = object.as_dict() else {
        return "array or value";
    };
    if dict.has_type(b"Sig") {
        "signature"
    } else if dict.has_type(b"DocTimeStamp") {
        "document timestamp"
    } else if dict.get(b"FT").and_then(Object::as_name) == Some(b"Sig") {
        "signature field"
    } else if dict.has_type(b"XObject") {
        "appearance"
    } else if dict.has_type(b"ObjStm") || dict.has_type(b"XRef") {
        "file structure"
    } else if dict.has_type(b"Metadata") {
        "metadata"
    } else {
        "object"
    }
}

/// Keys whose values differ (added, removed or changed).
fn changed_keys(old: &Dictionary, new: &Dictionary) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = new
        .iter()
        .filter(|(k, v)| !old.get(k).is_some_and(|o| same_meaning(o, v)))
        .map(|(k, _)| k.to_vec())
        .collect();
    keys.extend(old.iter().filter(|(k, _)| new.get(k).is_none()).map(|(k, _)| k.to_vec()));
    keys
}

/// Whether two values mean the same: equal, or equal but for text strings of printable ASCII
/// written once as such and once as UTF-16BE (pyHanko's signing re-encodes the catalog's
/// strings so, and pyHanko compares text). Other re-encodings count as changes.
fn same_meaning(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::String(x, _), Object::String(y, _)) => {
            x == y || ascii_text(x).is_some_and(|t| ascii_text(y) == Some(t))
        }
        (Object::Array(x), Object::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_meaning(a, b))
        }
        (Object::Dictionary(x), Object::Dictionary(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_meaning(v, w)))
        }
        _ => a == b,
    }
}

/// The text of a string of printable ASCII (tab and line ends too), written as plain bytes or
/// as UTF-16BE with its byte order mark; `None` for any other string.
fn ascii_text(bytes: &[u8]) -> Option<String> {
    let text = match bytes.strip_prefix(&[0xfe, 0xff]) {
        Some(units) if units.len() % 2 == 0 => String::from_utf16(
            &units.chunks_exact(2).map(|u| u16::from_be_bytes([u[0], u[1]])).collect::<Vec<_>>(),
        )
        .ok()?,
        Some(_) => return None,
        None => String::from_utf8(bytes.to_vec()).ok()?,
    };
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
        .then_some(text)
}

/// A form may stop asking viewers to regenerate field appearances (/NeedAppearances dropped,
/// or false), as signing tools do so that what was signed is what shows; never start.
fn appearances_kept(key: &[u8], new: &Dictionary) -> bool {
    key == b"NeedAppearances" && matches!(new.get(key), None | Some(Object::Boolean(false)))
}

/// Whether a list only grew: every old element is still there. Lists of references (the
/// only kind the rules let grow) are compared through a set: linear in their lengths.
fn only_grew(old: &Object, new: &Object) -> bool {
    match (old, new) {
        (Object::Array(a), Object::Array(b)) => {
            let kept: HashSet<ObjectId> = b.iter().filter_map(Object::as_reference).collect();
            a.iter().all(|x| x.as_reference().is_some_and(|r| kept.contains(&r)))
        }
        (a, b) => a == b,
    }
}

/// The references a list gained.
fn gained(old: &Object, new: &Object) -> Vec<ObjectId> {
    let old: HashSet<ObjectId> =
        old.as_array().unwrap_or_default().iter().filter_map(Object::as_reference).collect();
    new.as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(Object::as_reference)
        .filter(|r| !old.contains(r))
        .collect()
}

/// The references among `added` that name objects of the signed revision.
fn signed_objects<S: Source>(signed: &Document<S>, added: &[ObjectId]) -> Vec<ObjectId> {
    added
        .iter()
        .copied()
        .filter(|r| signed.xref().entries.get(&r.number).is_some_and(|e| *e != XrefEntry::Free))
        .collect()
}

/// A list value (direct array or reference to one) resolved in its revision.
fn list_in<S: Source>(doc: &Document<S>, value: Option<&Object>) -> Object {
    match value {
        None => Object::Array(Vec::new()),
        Some(v) => doc.resolve(v).unwrap_or(Object::Null),
    }
}

fn names(keys: &[Vec<u8>]) -> String {
    keys.iter().map(|k| format!("/{}", String::from_utf8_lossy(k))).collect::<Vec<_>>().join(", ")
}

/// The keys an existing object of a role may change, and the list keys that may only grow.
struct Rule {
    role: &'static str,
    may_change: &'static [&'static [u8]],
    lists: &'static [&'static [u8]],
}

const CATALOG: Rule = Rule {
    role: "catalog",
    may_change: &[b"AcroForm", b"DSS", b"Extensions", b"Version", b"Metadata"],
    lists: &[],
};
const FORM: Rule =
    Rule { role: "interactive form", may_change: &[b"Fields", b"SigFlags"], lists: &[b"Fields"] };
const PAGE: Rule = Rule { role: "page", may_change: &[b"Annots"], lists: &[b"Annots"] };
const EMPTY_SIGNATURE_FIELD: Rule = Rule {
    role: "empty signature field",
    may_change: &[b"V", b"AP", b"AS", b"F", b"Ff"],
    lists: &[],
};
const SIGNED_SIGNATURE_FIELD: Rule =
    Rule { role: "signed signature field", may_change: &[b"Ff"], lists: &[] };
const FIELD: Rule = Rule { role: "form field", may_change: &[b"F", b"Ff"], lists: &[] };
const ANNOTATION: Rule = Rule { role: "annotation", may_change: &[b"F"], lists: &[] };

fn classify<A: Source, B: Source>(
    roles: &Roles,
    signed: &Document<A>,
    current: &Document<B>,
    id: ObjectId,
    old: &Object,
    new: &Object,
) -> Change {
    let change = |role: &str, description: String, allowed: bool| {
        Change::new(id.number, role, description, allowed)
    };
    let page_area = |page: u32| {
        roles.crop_boxes.get(page as usize).map(|b| VisualArea { page: page + 1, rect: *b })
    };
    if let Some(role) = roles.dss.get(&id) {
        return dss_change(signed, current, id.number, role, old, new);
    }
    if roles.metadata == Some(id) {
        // Rewritten in place, it must still be the catalog's metadata (as pyHanko requires).
        let still_used =
            current.catalog().ok().and_then(|c| c.get(b"Metadata").and_then(Object::as_reference))
                == Some(id);
        return match (metadata_problem(signed, old), metadata_problem(current, new)) {
            _ if !still_used => change(
                "XMP metadata",
                "rewritten, and no longer the catalog's metadata".into(),
                false,
            ),
            (None, None) => change("XMP metadata", "rewritten (well-formed XMP)".into(), true),
            (Some(p), _) => change(
                "XMP metadata",
                format!("rewritten, but the signed one is not a metadata stream to update: {p}"),
                false,
            ),
            (_, Some(p)) => change("XMP metadata", format!("rewritten: {p}"), false),
        };
    }
    if roles.info == Some(id) {
        let (Some(old_d), Some(new_d)) = (old.as_dict(), new.as_dict()) else {
            return change(
                "document information",
                "rewritten as another kind of object".into(),
                false,
            );
        };
        return info_change(id.number, old_d, new_d);
    }
    if let Some(what) = roles.lists.get(&id) {
        let role = format!("list ({what})");
        if !only_grew(old, new) {
            return change(&role, "entries removed or replaced".into(), false);
        }
        let reused = signed_objects(signed, &gained(old, new));
        if !reused.is_empty() {
            return change(
                &role,
                format!(
                    "objects of the signed revision added to it: {}",
                    reused.iter().map(|r| r.number.to_string()).collect::<Vec<_>>().join(", ")
                ),
                false,
            );
        }
        return change(&role, "entries added".into(), true);
    }
    let role_name = roles.name(id, old);
    let (Some(old_d), Some(new_d)) = (old.as_dict(), new.as_dict()) else {
        return change(&role_name, "rewritten".into(), false);
    };
    if matches!((old, new), (Object::Stream(a), Object::Stream(b)) if a.data != b.data)
        || matches!(old, Object::Stream(_)) != matches!(new, Object::Stream(_))
    {
        let area = roles.page_content.get(&id).and_then(|p| page_area(*p));
        return change(&role_name, "stream content changed".into(), false).showing(area);
    }
    let keys = changed_keys(old_d, new_d);
    let field = roles.fields.get(&id).copied();
    let rule = if id == roles.root {
        &CATALOG
    } else if roles.form == Some(id) {
        &FORM
    } else if roles.pages.contains_key(&id) {
        &PAGE
    } else if field == Some(Some(false)) {
        &EMPTY_SIGNATURE_FIELD
    } else if field == Some(Some(true)) {
        &SIGNED_SIGNATURE_FIELD
    } else if field.is_some() {
        &FIELD
    } else if roles.annotations.contains_key(&id) {
        &ANNOTATION
    } else {
        return change(&role_name, format!("{} changed", names(&keys)), false);
    };
    let permitted = |k: &[u8]| {
        rule.may_change.contains(&k) || rule.role == FORM.role && appearances_kept(k, new_d)
    };
    let mut disallowed: Vec<Vec<u8>> = keys.iter().filter(|k| !permitted(k)).cloned().collect();
    let mut notes = Vec::new();
    for list in rule.lists {
        if !keys.iter().any(|k| k == list) {
            continue;
        }
        let (old_list, new_list) =
            (list_in(signed, old_d.get(list)), list_in(current, new_d.get(list)));
        if !only_grew(&old_list, &new_list) {
            disallowed.push(list.to_vec());
        } else if !signed_objects(signed, &gained(&old_list, &new_list)).is_empty() {
            notes.push("objects of the signed revision added to it".to_string());
            disallowed.push(list.to_vec());
        }
    }
    // Annotation flags may not show or hide an annotation; field flags may only lock.
    if keys.iter().any(|k| k == b"F") && rule.may_change.contains(&&b"F"[..]) {
        let (was, is) = (
            integer_in(signed, old_d.get(b"F")).unwrap_or(0),
            integer_in(current, new_d.get(b"F")).unwrap_or(0),
        );
        if (was ^ is) & !LOCK_FLAGS != 0 && rule.role != "empty signature field" {
            notes.push("/F changes more than the lock flags (it shows, hides or prints the annotation differently)".to_string());
            disallowed.push(b"F".to_vec());
        }
    }
    if keys.iter().any(|k| k == b"Ff") && rule.may_change.contains(&&b"Ff"[..]) {
        let (was, is) = (
            integer_in(signed, old_d.get(b"Ff")).unwrap_or(0),
            integer_in(current, new_d.get(b"Ff")).unwrap_or(0),
        );
        if is & was != was || (is & !was) & !READ_ONLY != 0 {
            notes.push("/Ff does more than set ReadOnly".to_string());
            disallowed.push(b"Ff".to_vec());
        }
    }
    // An empty signature field changes its appearance and flags only as it is signed.
    if rule.role == "empty signature field" && !is_signature_value(current, new_d.get(b"V")) {
        let unsigned: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| [&b"AP"[..], b"AS", b"F", b"V"].contains(&k.as_slice()))
            .cloned()
            .collect();
        if !unsigned.is_empty() {
            notes.push(
                "the field is not being signed (no signature dictionary as its /V)".to_string(),
            );
            disallowed.extend(unsigned);
        }
    }
    // The catalog's form may be created or replaced only by one that differs in the form's
    // own permitted ways; its metadata only by a well-formed XMP stream.
    if rule.role == "catalog"
        && keys.iter().any(|k| k == b"AcroForm")
        && !form_change_allowed(signed, current, old_d, new_d)
    {
        disallowed.push(b"AcroForm".to_vec());
    }
    if rule.role == "catalog" && keys.iter().any(|k| k == b"Metadata") {
        let problem = match new_d.get(b"Metadata") {
            Some(Object::Reference(m)) => current
                .object(*m)
                .map_err(|e| e.to_string())
                .and_then(|o| metadata_problem(current, &o).map_or(Ok(()), Err))
                .err(),
            Some(_) => Some("/Metadata is not a reference to a stream".into()),
            None => None,
        };
        if let Some(p) = problem {
            notes.push(format!("/Metadata: {p}"));
            disallowed.push(b"Metadata".to_vec());
        }
    }
    // An empty signature field getting its appearance shows on its page.
    let area = match rule.role {
        "empty signature field"
            if keys.iter().any(|k| k == b"AP" || k == b"AS" || k == b"F" || k == b"Rect") =>
        {
            roles
                .annotations
                .get(&id)
                .and_then(|p| visible_area(current, new_d, *p, roles.crop_boxes.get(*p as usize)))
        }
        "page"
            if !disallowed.is_empty()
                && keys.iter().any(|k| k == b"Contents" || k == b"Resources") =>
        {
            roles.pages.get(&id).and_then(|p| page_area(*p))
        }
        _ => None,
    };
    disallowed.dedup();
    let role = if rule.role == "annotation" || rule.role == "form field" {
        role_name.as_str()
    } else {
        rule.role
    };
    if disallowed.is_empty() {
        change(role, format!("{} updated", names(&keys)), true).showing(area)
    } else {
        let why = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
        change(role, format!("{} changed{why}", names(&disallowed)), false).showing(area)
    }
}

/// A /DSS container changed: the dictionary keeps to its keys and its /VRI entries, /VRI
/// keeps its entries, and the arrays may change (PAdES lets a later update drop data that
/// is no longer needed).
fn dss_change<A: Source, B: Source>(
    signed: &Document<A>,
    current: &Document<B>,
    number: u32,
    role: &str,
    old: &Object,
    new: &Object,
) -> Change {
    let change =
        |description: String, allowed: bool| Change::new(number, role, description, allowed);
    match (old, new) {
        (Object::Array(_), Object::Array(_)) => change("entries updated".into(), true),
        (Object::Dictionary(old), Object::Dictionary(new)) if role == "validation data (/DSS)" => {
            let unexpected: Vec<Vec<u8>> = new
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !DSS_KEYS.contains(k))
                .map(<[u8]>::to_vec)
                .collect();
            if !unexpected.is_empty() {
                return change(format!("unexpected keys {}", names(&unexpected)), false);
            }
            // /VRI may move (direct to indirect, or to a new object), keeping its old entries.
            let old_vri =
                old.get(b"VRI").map(|v| signed.resolve(v).ok().and_then(|o| o.as_dict().cloned()));
            let new_vri =
                new.get(b"VRI").map(|v| current.resolve(v).ok().and_then(|o| o.as_dict().cloned()));
            match (old_vri, new_vri) {
                (None, _) => change("updated".into(), true),
                (Some(Some(a)), Some(Some(b))) if kept_entries(&a, &b) => {
                    change("updated".into(), true)
                }
                _ => change("/VRI entries changed or removed".into(), false),
            }
        }
        (Object::Dictionary(old), Object::Dictionary(new)) => {
            if kept_entries(old, new) {
                change("entries added".into(), true)
            } else {
                change("entries changed or removed".into(), false)
            }
        }
        _ => change("rewritten as another kind of object".into(), false),
    }
}

/// Whether every entry of `old` is in `new` unchanged.
fn kept_entries(old: &Dictionary, new: &Dictionary) -> bool {
    old.iter().all(|(k, v)| new.get(k) == Some(v))
}

/// The Info dictionary changed: only the keys a signing tool writes.
fn info_change(number: u32, old: &Dictionary, new: &Dictionary) -> Change {
    let keys = changed_keys(old, new);
    let disallowed: Vec<Vec<u8>> =
        keys.iter().filter(|k| !INFO_KEYS.contains(&k.as_slice())).cloned().collect();
    let indirect = INFO_KEYS.iter().any(|k| matches!(new.get(k), Some(Object::Reference(_))));
    if disallowed.is_empty() && !indirect {
        Change::new(number, "document information", format!("{} updated", names(&keys)), true)
    } else if disallowed.is_empty() {
        Change::new(
            number,
            "document information",
            "/ModDate, /Producer or /Creator made a reference".into(),
            false,
        )
    } else {
        Change::new(
            number,
            "document information",
            format!("{} changed", names(&disallowed)),
            false,
        )
    }
}

/// Why an object is not a metadata stream holding well-formed XMP, if it is not.
fn metadata_problem<S: Source>(doc: &Document<S>, object: &Object) -> Option<String> {
    let Object::Stream(stream) = object else {
        return Some("not a stream".into());
    };
    if !stream.dict.has_type(b"Metadata")
        || stream.dict.get(b"Subtype").and_then(Object::as_name) != Some(b"XML")
    {
        return Some("not /Type /Metadata /Subtype /XML".into());
    }
    let data = match doc.decode(stream) {
        Ok(d) => d,
        Err(e) => return Some(format!("its data cannot be decoded: {e}")),
    };
    xml::well_formed_xmp(&data).err()
}

/// A catalog's /AcroForm changed: the new form (resolved) may differ from the old only in
/// /SigFlags and a /Fields list that grew.
fn form_change_allowed<A: Source, B: Source>(
    signed: &Document<A>,
    current: &Document<B>,
    old_catalog: &Dictionary,
    new_catalog: &Dictionary,
) -> bool {
    let old = match old_catalog.get(b"AcroForm") {
        Some(f) => signed.resolve(f).ok().and_then(|f| f.as_dict().cloned()),
        None => Some(Dictionary::new()),
    };
    let new = new_catalog
        .get(b"AcroForm")
        .and_then(|f| current.resolve(f).ok())
        .and_then(|f| f.as_dict().cloned());
    let (Some(old), Some(new)) = (old, new) else { return false };
    let keys = changed_keys(&old, &new);
    keys.iter().all(|k| FORM.may_change.contains(&k.as_slice()) || appearances_kept(k, &new))
        && only_grew(&list_in(signed, old.get(b"Fields")), &list_in(current, new.get(b"Fields")))
}

/// A minimal XML well-formedness check for XMP packets: balanced, properly nested elements
/// with quoted attributes, one root element named `x:xmpmeta` (any prefix), only the five
/// predefined entities and character references, and no document type declaration (no
/// custom entities). Enough to tell metadata from content dressed up as metadata; it does not
/// validate XMP itself.
mod xml {
    /// At most this deep element nesting.
    const MAX_DEPTH: usize = 256;

    pub fn well_formed_xmp(data: &[u8]) -> Result<(), String> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let text = std::str::from_utf8(data).map_err(|_| "the XML is not UTF-8".to_string())?;
        let mut stack: Vec<&str> = Vec::new();
        let mut root: Option<&str> = None;
        let mut rest = text;
        let err = |what: &str| Err(format!("the XML is not well-formed: {what}"));
        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                check_text(rest, !stack.is_empty())?;
                break;
            };
            check_text(&rest[..lt], !stack.is_empty())?;
            rest = &rest[lt..];
            if let Some(after) = rest.strip_prefix("<?") {
                let Some(end) = after.find("?>") else {
                    return err("an unclosed processing instruction");
                };
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix("<!--") {
                let Some(end) = after.find("-->") else { return err("an unclosed comment") };
                rest = &after[end + 3..];
            } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
                if stack.is_empty() {
                    return err("character data outside the root element");
                }
                let Some(end) = after.find("]]>") else { return err("an unclosed CDATA section") };
                rest = &after[end + 3..];
            } else if rest.starts_with("<!") {
                return err("a document type declaration (entities are not accepted in metadata)");
            } else if let Some(after) = rest.strip_prefix("</") {
                let Some(end) = after.find('>') else { return err("an unclosed end tag") };
                let name = after[..end].trim_end();
                if stack.pop() != Some(name) {
                    return err(&format!("the end tag </{}> does not match", clip(name)));
                }
                rest = &after[end + 1..];
            } else {
                let after = &rest[1..];
                let (name, tail) = split_name(after).ok_or_else(|| {
                    "the XML is not well-formed: a tag without a name".to_string()
                })?;
                let (empty, tail) = attributes(tail)?;
                if stack.is_empty() {
                    if root.is_some() {
                        return err("more than one root element");
                    }
                    root = Some(name);
                }
                if !empty {
                    if stack.len() >= MAX_DEPTH {
                        return err("elements nested too deep");
                    }
                    stack.push(name);
                }
                rest = tail;
            }
        }
        if !stack.is_empty() {
            return err("elements left open");
        }
        match root {
            Some(name) if name.rsplit(':').next() == Some("xmpmeta") => Ok(()),
            Some(name) => Err(format!("the root element <{}> is not x:xmpmeta", clip(name))),
            None => err("no root element"),
        }
    }

    fn clip(s: &str) -> String {
        s.chars().take(40).collect()
    }

    fn is_name_char(c: char) -> bool {
        c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.') || !c.is_ascii()
    }

    fn split_name(s: &str) -> Option<(&str, &str)> {
        let end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
        let name = &s[..end];
        (!name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.'))
        .then_some((name, &s[end..]))
    }

    /// Reads attributes up to `>` or `/>`; returns whether the element was empty and the rest.
    fn attributes(mut s: &str) -> Result<(bool, &str), String> {
        let bad = |what: &str| Err(format!("the XML is not well-formed: {what}"));
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        loop {
            let trimmed = s.trim_start_matches([' ', '\t', '\r', '\n']);
            let spaced = trimmed.len() != s.len();
            s = trimmed;
            if let Some(rest) = s.strip_prefix("/>") {
                return Ok((true, rest));
            }
            if let Some(rest) = s.strip_prefix('>') {
                return Ok((false, rest));
            }
            if !spaced {
                return bad("an attribute without space before it");
            }
            let Some((name, rest)) = split_name(s) else { return bad("a malformed attribute") };
            if !seen.insert(name) {
                return bad("a repeated attribute");
            }
            let rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            let Some(rest) = rest.strip_prefix('=') else {
                return bad("an attribute without a value");
            };
            let rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                return bad("an unquoted attribute value");
            };
            let Some(end) = rest[1..].find(quote) else {
                return bad("an unclosed attribute value");
            };
            let value = &rest[1..1 + end];
            if value.contains('<') {
                return bad("'<' in an attribute value");
            }
            check_references(value)?;
            s = &rest[1 + end + 1..];
        }
    }

    fn check_text(text: &str, inside: bool) -> Result<(), String> {
        if !inside && !text.trim().is_empty() {
            return Err("the XML is not well-formed: text outside the root element".into());
        }
        check_references(text)
    }

    /// Entity references: only the predefined five and character references.
    fn check_references(mut text: &str) -> Result<(), String> {
        while let Some(at) = text.find('&') {
            let rest = &text[at + 1..];
            let Some(end) = rest.find(';') else {
                return Err("the XML is not well-formed: a bare '&'".into());
            };
            let name = &rest[..end];
            let ok = matches!(name, "lt" | "gt" | "amp" | "apos" | "quot")
                || name
                    .strip_prefix("#x")
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                || name
                    .strip_prefix('#')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!(
                    "the XML is not well-formed: the entity &{}; is not predefined",
                    clip(name)
                ));
            }
            text = &rest[end + 1..];
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::well_formed_xmp;

        #[test]
        fn xmp_packets_pass() {
            let packet = "\u{feff}<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"><xmp:ModifyDate>2026-12-03T10:00:00Z</xmp:ModifyDate><dc:title><rdf:Alt><rdf:li xml:lang='x-default'>A &amp; B &#x4E2D;</rdf:li></rdf:Alt></dc:title><x/></rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>";
            assert_eq!(well_formed_xmp(packet.as_bytes()), Ok(()));
        }

        #[test]
        fn malformed_or_foreign_xml_fails() {
            for (bad, why) in [
                ("<x:xmpmeta><a></x:xmpmeta>", "does not match"),
                ("<x:xmpmeta>", "left open"),
                (
                    "<!DOCTYPE x [<!ENTITY e \"0 g 0 0 100 100 re f\">]><x:xmpmeta>&e;</x:xmpmeta>",
                    "document type",
                ),
                ("<x:xmpmeta>&e;</x:xmpmeta>", "not predefined"),
                ("<x:xmpmeta a=1/>", "unquoted"),
                ("<x:xmpmeta/><x:xmpmeta/>", "more than one root"),
                ("0 g 0 0 100 100 re f <x:xmpmeta/>", "outside the root"),
                ("<html/>", "not x:xmpmeta"),
                ("", "no root"),
            ] {
                let e = well_formed_xmp(bad.as_bytes()).unwrap_err();
                assert!(e.contains(why), "{bad}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Object {
        Object::String(
            [0xfe, 0xff]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
                .collect(),
            eseal_pdf::StringFormat::Literal,
        )
    }

    #[test]
    fn ascii_text_rewritten_as_utf16_means_the_same_and_nothing_else_does() {
        let labels = |prefix: Object| {
            Object::Dictionary(
                [(b"P".to_vec(), prefix), (b"S".to_vec(), Object::name("r"))].into_iter().collect(),
            )
        };
        assert!(same_meaning(&labels(utf16("A-")), &labels(Object::string(b"A-".to_vec()))));
        assert!(!same_meaning(&labels(utf16("A-")), &labels(Object::string(b"B-".to_vec()))));
        // Beyond ASCII, PDFDocEncoding and Latin-1 part ways: a re-encoding is a change.
        assert!(!same_meaning(&utf16("\u{e9}"), &Object::string(vec![0xe9])));
        assert!(!same_meaning(&utf16("\u{2022}"), &Object::string(vec![0x80])));
        // An odd number of UTF-16 bytes, or a different number of entries, is a change.
        assert!(!same_meaning(
            &Object::string(vec![0xfe, 0xff, 0x00]),
            &Object::string(Vec::new())
        ));
        assert!(!same_meaning(
            &Object::Array(vec![utf16("1")]),
            &Object::Array(vec![Object::string(b"1".to_vec()), Object::Null])
        ));
    }

    #[test]
    fn a_form_may_stop_but_not_start_regenerating_appearances() {
        let form = |value: Option<Object>| {
            value
                .map(|v| [(b"NeedAppearances".to_vec(), v)].into_iter().collect())
                .unwrap_or_default()
        };
        assert!(appearances_kept(b"NeedAppearances", &form(None)));
        assert!(appearances_kept(b"NeedAppearances", &form(Some(Object::Boolean(false)))));
        assert!(!appearances_kept(b"NeedAppearances", &form(Some(Object::Boolean(true)))));
        assert!(!appearances_kept(
            b"NeedAppearances",
            &form(Some(Object::Reference(ObjectId::new(9, 0))))
        ));
        assert!(!appearances_kept(b"DA", &form(None)));
    }
}
