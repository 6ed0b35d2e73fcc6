//! Seals a PDF with a keys-sample seal: `cargo run --example seal_file -- IN OUT [ec|rsa] [page]`.
use eseal_cms::{CertificateChain, RingSigner};
use eseal_pdf::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(3).map(String::as_str).unwrap_or("ec");
    let name = if which == "rsa" { "seal-housing-rsa" } else { "seal-approval-ec" };
    let page: i64 = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(-1);
    let data = std::fs::read(&args[1])?;
    let image = SealImage::from_png(&std::fs::read(format!("keys-sample/{name}.png"))?)?;
    let chain = CertificateChain::from_pem(&std::fs::read_to_string(format!(
        "keys-sample/{name}-chain.pem"
    ))?)?;
    let signer = RingSigner::from_pkcs8(&std::fs::read(format!("keys-sample/{name}.pk8"))?)?;
    let opts = SealOptions {
        field_name: None,
        placement: Placement {
            page,
            rect: Some(SealRect {
                x: 10.0,
                y: 10.0,
                width: 30.0,
                height: 30.0,
                unit: Unit::Millimetres,
                corner: Corner::BottomRight,
            }),
        },
        image: Some(&image),
        signing_time: 1_790_000_000,
        reason: Some("审批通过".into()),
        location: Some("示例市".into()),
        contact_info: None,
        certify: std::env::var_os("CERTIFY").is_some(),
        contents_size: 0,
        reserve_fields: Vec::new(),
    };
    let mut out = Vec::new();
    let stamped = eseal_service::stamp::seal(&data, &mut out, &opts, &chain, &signer)?;
    std::fs::write(&args[2], &out)?;
    println!("sealed {:?}", stamped.document.byte_range);
    Ok(())
}
