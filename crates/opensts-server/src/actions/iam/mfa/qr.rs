//! The bootstrap data of a virtual MFA device: the `otpauth://` URI authenticator apps read,
//! rendered as a QR code in a PNG (1-bit greyscale, zlib "stored" blocks — the image is a
//! few kilobytes, so no compressor is needed).

use qrcode::{Color, EcLevel, QrCode};

/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "OpenSTS";
/// Pixels per QR module.
const SCALE: usize = 4;
/// Light modules around the symbol (the QR specification asks for 4).
const QUIET_ZONE: usize = 4;

/// Percent-encode everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `otpauth://totp/<issuer>:<device>@<account>?secret=<base32>&issuer=<issuer>` (the Key URI
/// Format; SHA-1, 6 digits and 30 s are the defaults, as for AWS's virtual MFA devices).
pub fn otpauth_uri(device_name: &str, account_id: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}",
        pct(ISSUER),
        pct(&format!("{device_name}@{account_id}")),
        pct(ISSUER)
    )
}

/// A PNG of the QR code of `data`; `None` if `data` does not fit in a QR code.
pub fn qr_png(data: &str) -> Option<Vec<u8>> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let row_bytes = side.div_ceil(8);
    // Scanlines: a filter byte (0 = None) and the packed pixels, 1 = white.
    let mut raw = Vec::with_capacity((row_bytes + 1) * side);
    for y in 0..side {
        raw.push(0u8);
        let my = (y / SCALE).checked_sub(QUIET_ZONE);
        let mut byte = 0u8;
        for x in 0..side {
            let mx = (x / SCALE).checked_sub(QUIET_ZONE);
            let dark = match (mx, my) {
                (Some(mx), Some(my)) if mx < modules && my < modules => {
                    colors.get(my * modules + mx) == Some(&Color::Dark)
                }
                _ => false,
            };
            byte = (byte << 1) | u8::from(!dark);
            if x % 8 == 7 {
                raw.push(byte);
                byte = 0;
            }
        }
        let rest = side % 8;
        if rest != 0 {
            // Pad the last byte with white pixels.
            let pad = 8 - rest;
            raw.push((byte << pad) | ((1u8 << pad) - 1));
        }
    }
    Some(png_grey1(u32::try_from(side).ok()?, &raw))
}

/// A PNG of 1-bit greyscale scanlines (`raw` already has the filter bytes).
fn png_grey1(side: u32, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 65_535 * 5 + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    // bit depth 1, colour type 0 (greyscale), deflate, adaptive filtering, no interlace
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of uncompressed deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 65_535;
    let mut out = Vec::with_capacity(data.len() + data.len() / MAX_BLOCK * 5 + 11);
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(MAX_BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        out.push(u8::from(last));
        // chunks(MAX_BLOCK) guarantees the length fits in 16 bits.
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % MOD;
        b = (b + a) % MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn checksums() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn uri() {
        assert_eq!(
            otpauth_uri("my+dev", "123456789012", "ABC"),
            "otpauth://totp/OpenSTS:my%2Bdev%40123456789012?secret=ABC&issuer=OpenSTS"
        );
    }

    #[test]
    fn png_structure() {
        let uri = otpauth_uri("device", "123456789012", &"A".repeat(64));
        let png = qr_png(&uri).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let side = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
        assert_eq!(side % SCALE, 0);
        assert!(side >= (21 + 2 * QUIET_ZONE) * SCALE);
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        // IDAT: zlib header, one or more stored blocks, Adler-32 of the scanlines.
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let z = &png[41..41 + idat_len];
        assert_eq!(&z[..2], &[0x78, 0x01]);
        let mut i = 2;
        let mut raw = Vec::new();
        loop {
            let last = z[i] & 1 == 1;
            let len = u16::from_le_bytes([z[i + 1], z[i + 2]]) as usize;
            let nlen = u16::from_le_bytes([z[i + 3], z[i + 4]]);
            assert_eq!(nlen, !(len as u16));
            raw.extend_from_slice(&z[i + 5..i + 5 + len]);
            i += 5 + len;
            if last {
                break;
            }
        }
        assert_eq!(
            u32::from_be_bytes(z[i..i + 4].try_into().unwrap()),
            adler32(&raw)
        );
        let row = side.div_ceil(8) + 1;
        assert_eq!(raw.len(), row * side);
        // The quiet zone is white; the finder pattern's corner module is dark.
        assert_eq!(raw[1], 0xff);
        let y = QUIET_ZONE * SCALE;
        let x = QUIET_ZONE * SCALE;
        let bit = raw[y * row + 1 + x / 8] >> (7 - x % 8) & 1;
        assert_eq!(bit, 0);
        // Every chunk's CRC is right.
        let mut at = 8;
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[at + 4..at + 8 + len]));
            at += 12 + len;
        }
    }

    #[test]
    fn too_long_is_none() {
        assert!(qr_png(&"x".repeat(10_000)).is_none());
    }
}
