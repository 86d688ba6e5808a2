//! A screenshot of the console with a held request, a paused agent and a few decisions:
//! Chromium renders the page with its embedded style (the CSP let it load), the held
//! request's card stands where the page says, in the card's colours, and the header bar and
//! the kill switch's buttons are drawn. The picture is kept in the test's target directory.

use serde_json::json;

use crate::console::{alice, assert_clean, signed_in, start};
use crate::runtime::{send_transfer, wait_pending};
use crate::support::agent::Proto;

/// RGB of the page's colours (console.css).
const HEADER: [u8; 3] = [0x15, 0x1b, 0x2b];
const CARD: [u8; 3] = [0xff, 0xfd, 0xf7];
const CARD_EDGE: [u8; 3] = [0x9a, 0x67, 0x00];
const DANGER: [u8; 3] = [0xb4, 0x23, 0x18];

/// Decoded pixels (RGB, or RGBA: the bytes per pixel), width and height.
fn decode(path: &std::path::Path) -> (Vec<u8>, usize, u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{info:?}");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    buf.truncate(info.buffer_size());
    (buf, step, info.width, info.height)
}

#[tokio::test]
async fn the_console_renders_a_held_request_and_the_kill_switch() {
    let h = start().await;
    let mut browser = signed_in(&h).await;
    let reply = alice(&h)
        .get(Proto::H1, "https://api.example.com/read/7")
        .await;
    assert_eq!(reply.status, http::StatusCode::OK);
    let held = send_transfer(alice(&h));
    wait_pending(h.admin(), 1).await;
    browser
        .run(json!({"do": "wait_card", "url": "/transfer"}))
        .await;
    browser
        .run(json!({"do": "pause", "agent": "bob", "reason": "rotating its key"}))
        .await;
    browser.run(json!({"do": "feed", "expect": 2})).await;
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    let shot = browser
        .run(json!({"do": "screenshot", "file": file, "selector": "article.card"}))
        .await;
    let (pixels, step, width, height) = decode(&file);
    assert_eq!(u64::from(width), shot["size"]["width"].as_u64().unwrap());
    assert_eq!(u64::from(height), shot["size"]["height"].as_u64().unwrap());
    let at = |x: u32, y: u32| -> [u8; 3] {
        let i = (y * width + x) as usize * step;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    assert_eq!(at(2, 2), HEADER, "the header bar");
    let count = |colour: [u8; 3], x0: u32, y0: u32, x1: u32, y1: u32| {
        (y0..y1.min(height))
            .flat_map(|y| (x0..x1.min(width)).map(move |x| (x, y)))
            .filter(|&(x, y)| at(x, y) == colour)
            .count()
    };
    // The card, where the page laid it out: mostly its background, with its coloured edge.
    let b = &shot["box"];
    let (x, y, w, hgt) = (
        b["x"].as_f64().unwrap() as u32,
        b["y"].as_f64().unwrap() as u32,
        b["width"].as_f64().unwrap() as u32,
        b["height"].as_f64().unwrap() as u32,
    );
    assert!(w > 400 && hgt > 150, "card box {b}");
    let area = (w * hgt) as usize;
    let background = count(CARD, x, y, x + w, y + hgt);
    assert!(
        background * 2 > area,
        "card background {background} of {area}"
    );
    assert!(
        count(CARD_EDGE, x, y, x + 4, y + hgt) > (hgt as usize),
        "the card's edge"
    );
    // Deny, Pause and Pause-all buttons are drawn in the danger colour.
    assert!(count(DANGER, 0, 0, width, height) > 500, "danger buttons");
    // A picture with text and colour, not a blank page.
    let mut colours = std::collections::HashSet::new();
    for chunk in pixels.chunks(step) {
        colours.insert([chunk[0], chunk[1], chunk[2]]);
    }
    assert!(colours.len() > 50, "{} colours", colours.len());
    assert_clean(&mut browser).await;
    held.abort();
    browser.close().await;
}
