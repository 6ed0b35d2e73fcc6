//! Prints the verification report of a PDF as JSON: `cargo run --example verify_file -- FILE [ROOT.pem]`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1])?;
    let anchors = match args.get(2) {
        Some(p) => eseal_verify::TrustAnchors::from_pem(&std::fs::read_to_string(p)?)?,
        None => eseal_verify::TrustAnchors::none(),
    };
    let report = eseal_verify::verify_document(&data, &anchors)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
