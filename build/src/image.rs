//! Packing boot images, and damaging them on purpose for negative tests.
//!
//! The format and its checks live in `septum_kcore::bootimage`, shared with
//! the kernel, so what the build tool packs is exactly what the kernel reads.
//! The corruptions each break one thing the kernel must notice; the
//! scenarios `image-*` check that it refuses such an image cleanly.

use crate::scenario::Corruption;
use septum_kcore::bootimage::{self, BootImage, EntryKind, Input};

/// Pack a root task and other tasks, each named after its binary, and the
/// compiled system description if there is one (as the entry
/// `septum_sysdesc::image::ENTRY_NAME`, where the root task will look).
pub fn pack(
    root: (&str, &[u8]),
    tasks: &[(&str, &[u8])],
    system: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let inputs: Vec<Input<'_>> = std::iter::once(Input {
        kind: EntryKind::RootTask,
        name: root.0,
        data: root.1,
    })
    .chain(tasks.iter().map(|&(name, data)| Input {
        kind: EntryKind::Task,
        name,
        data,
    }))
    .chain(system.map(|data| Input {
        kind: EntryKind::SystemDescription,
        name: septum_sysdesc::image::ENTRY_NAME,
        data,
    }))
    .collect();
    let mut out = vec![0u8; bootimage::packed_size(&inputs)];
    let len = bootimage::pack(&inputs, &mut out)
        .map_err(|e| format!("cannot pack the boot image: {e}"))?;
    out.truncate(len);
    Ok(out)
}

/// Apply `how` to a well-formed image.
pub fn corrupt(image: &mut Vec<u8>, how: Corruption) -> Result<(), String> {
    let root = || -> Result<(usize, usize), String> {
        let parsed =
            BootImage::parse(image).map_err(|e| format!("cannot corrupt a bad image: {e}"))?;
        let entry = parsed.root_task().ok_or("image has no root task")?;
        Ok((entry.offset, entry.data.len()))
    };
    match how {
        Corruption::Magic => image[0] ^= 0xff,
        Corruption::Checksum => {
            let (offset, len) = root()?;
            if len == 0 {
                return Err("the root task is empty; nothing to corrupt".into());
            }
            image[offset + len / 2] ^= 0xff;
        }
        Corruption::Truncate => image.truncate(image.len() / 2),
        Corruption::RootElf => {
            let (offset, len) = root()?;
            if len < 4 {
                return Err("the root task is shorter than an ELF magic".into());
            }
            image[offset..offset + 4].fill(0);
            bootimage::reseal(image);
        }
        Corruption::System => {
            let (offset, len) = {
                let parsed = BootImage::parse(image)
                    .map_err(|e| format!("cannot corrupt a bad image: {e}"))?;
                let entry = parsed
                    .entries()
                    .find(|e| e.kind == EntryKind::SystemDescription)
                    .ok_or("image has no system description to corrupt")?;
                (entry.offset, entry.data.len())
            };
            if len <= septum_sysdesc::image::HEADER_SIZE {
                return Err("the system description has no payload to corrupt".into());
            }
            image[offset + len - 1] ^= 0xff;
            bootimage::reseal(image);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use septum_kcore::bootimage::Error;

    fn sample() -> Vec<u8> {
        let root = b"\x7fELF root task bytes".repeat(100);
        pack(("root-task", &root), &[("other", b"\x7fELF other")], None).unwrap()
    }

    #[test]
    fn a_description_goes_in_its_own_entry() {
        let image = pack(("root-task", b"\x7fELF r"), &[], Some(b"SEPTSYS\0...")).unwrap();
        let parsed = BootImage::parse(&image).unwrap();
        assert_eq!(parsed.len(), 2);
        let system = parsed.find("system").unwrap();
        assert_eq!(system.kind, EntryKind::SystemDescription);
        assert_eq!(system.data, b"SEPTSYS\0...");
        let plain = sample();
        let without = BootImage::parse(&plain).unwrap();
        assert!(
            without
                .entries()
                .all(|e| e.kind != EntryKind::SystemDescription),
            "images not built from a description carry none"
        );
    }

    #[test]
    fn packs_root_and_tasks() {
        let image = sample();
        let parsed = BootImage::parse(&image).unwrap();
        assert_eq!(parsed.len(), 2);
        let root = parsed.root_task().unwrap();
        assert_eq!(root.name, "root-task");
        assert!(root.data.starts_with(b"\x7fELF root"));
        let other = parsed.find("other").unwrap();
        assert_eq!(other.kind, EntryKind::Task);
        assert_eq!(other.data, b"\x7fELF other");
    }

    #[test]
    fn pack_errors_are_explained() {
        let err = pack(("", b"x"), &[], None).unwrap_err();
        assert!(err.contains("cannot pack the boot image"), "{err}");
    }

    #[test]
    fn each_corruption_breaks_one_thing() {
        let mut image = sample();
        corrupt(&mut image, Corruption::Magic).unwrap();
        assert!(matches!(
            BootImage::parse(&image),
            Err(Error::BadMagic { .. })
        ));

        let mut image = sample();
        corrupt(&mut image, Corruption::Checksum).unwrap();
        assert!(matches!(
            BootImage::parse(&image),
            Err(Error::ChecksumMismatch { .. })
        ));

        let mut image = sample();
        let len = image.len();
        corrupt(&mut image, Corruption::Truncate).unwrap();
        assert_eq!(image.len(), len / 2);
        let err = BootImage::parse(&image).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }));
        assert!(
            err.to_string().contains("only"),
            "the scenario expects \"only\": {err}"
        );

        let mut image = sample();
        corrupt(&mut image, Corruption::RootElf).unwrap();
        let parsed = BootImage::parse(&image).expect("resealed image still checks");
        let root = parsed.root_task().unwrap();
        assert_eq!(&root.data[..4], &[0, 0, 0, 0]);
        assert_eq!(&root.data[4..9], b" root");
    }

    #[test]
    fn corrupting_a_bad_image_is_refused() {
        let mut image = vec![0u8; 10];
        assert!(corrupt(&mut image, Corruption::Checksum).is_err());
        assert!(corrupt(&mut image, Corruption::RootElf).is_err());
    }
}
