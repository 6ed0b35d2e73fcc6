use eseal::pdf::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).unwrap();
    let png = std::fs::read("keys-sample/seal-approval-ec.png").unwrap();
    let image = SealImage::from_png(&png).unwrap();
    let doc = match Document::open(data.clone()) { Ok(d) => d, Err(e) => { println!("open error: {e}"); return; } };
    let opts = SealOptions {
        field_name: None,
        placement: Placement { page: -1, rect: Some(SealRect { x: 20.0, y: 20.0, width: 40.0, height: 40.0, unit: Unit::Millimetres, corner: Corner::BottomRight }) },
        image: Some(&image), signing_time: 1_790_000_000, reason: Some("审批通过".into()), location: Some("示例市".into()), contact_info: None, certify: false, contents_size: 8192,
    };
    let prepared = match prepare(&doc, &opts) { Ok(p) => p, Err(e) => { println!("prepare error: {e}"); return; } };
    let mut out = Vec::new();
    let hashed = prepared.copy_original(&data, &mut out).unwrap();
    let res = hashed.finish(&mut out, &[0x30, 0x00]).unwrap();
    std::fs::write(&args[2], &out).unwrap();
    println!("ok {:?}", res.byte_range);
}
