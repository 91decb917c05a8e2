//! Worst-case postcard sizes of messages.
//!
//! postcard writes integers wider than a byte as varints (7 bits a byte,
//! zigzag for signed ones), enum variants as the varint of their index,
//! strings and byte vectors as a varint length and the bytes, structs as
//! their fields in order and `()` as nothing.

use crate::{Method, Type, TypeBody};
use std::collections::HashMap;

/// Payload bytes one message carries: `(MAX_WORDS - 1) * 8`.
pub const PAYLOAD_CAPACITY: usize = (68 - 1) * 8;

/// Bytes of the varint encoding of `v`.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Largest encoding of a value of `ty`; caps are `u8` indices. `types` must
/// be free of recursion (the checker ensures it).
pub(crate) fn max_size(ty: &Type, types: &HashMap<&str, &TypeBody>) -> usize {
    match ty {
        Type::U8 | Type::I8 | Type::Bool | Type::Cap(..) => 1,
        Type::U16 | Type::I16 => varint_len(u16::MAX.into()),
        Type::U32 | Type::I32 => varint_len(u32::MAX.into()),
        Type::U64 | Type::I64 => varint_len(u64::MAX),
        Type::String(n) | Type::Bytes(n) => varint_len(u64::from(*n)) + usize::from(*n),
        Type::Region => 2 * varint_len(u32::MAX.into()),
        Type::Unit => 0,
        Type::Named(name) => match types.get(name.as_str()) {
            Some(TypeBody::Enum(vs) | TypeBody::Error(vs)) => {
                varint_len(vs.len().saturating_sub(1) as u64)
            }
            Some(TypeBody::Struct(fields)) => fields.iter().map(|f| max_size(&f.ty, types)).sum(),
            None => 0,
        },
    }
}

/// The request size (the arguments in order) and the reply size: the
/// largest of the result, the error and the `VersionMismatch` payload (the
/// server's version, a postcard `u16`).
pub(crate) fn method_sizes(m: &Method, types: &HashMap<&str, &TypeBody>) -> (usize, usize) {
    let request = m.args.iter().map(|a| max_size(&a.ty, types)).sum();
    let result = max_size(&m.result, types);
    let error = m
        .error
        .as_ref()
        .map_or(0, |e| max_size(&Type::Named(e.clone()), types));
    let version = max_size(&Type::U16, types);
    (request, result.max(error).max(version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Field, Pos, Variant};

    fn field(ty: Type) -> Field {
        Field {
            name: "f".into(),
            pos: Pos::default(),
            docs: Vec::new(),
            ty,
            ty_pos: Pos::default(),
        }
    }

    fn variants(n: usize) -> Vec<Variant> {
        (0..n)
            .map(|i| Variant {
                name: format!("V{i}"),
                pos: Pos::default(),
                docs: Vec::new(),
                value: i as u8,
            })
            .collect()
    }

    #[test]
    fn varints() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16383), 2);
        assert_eq!(varint_len(16384), 3);
        assert_eq!(varint_len(u16::MAX.into()), 3);
        assert_eq!(varint_len(u32::MAX.into()), 5);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn scalars() {
        let t = HashMap::new();
        let cases = [
            (Type::U8, 1),
            (Type::I8, 1),
            (Type::Bool, 1),
            (Type::U16, 3),
            (Type::I16, 3),
            (Type::U32, 5),
            (Type::I32, 5),
            (Type::U64, 10),
            (Type::I64, 10),
            (Type::Region, 10),
            (Type::Unit, 0),
            (Type::Cap(crate::CapKind::Endpoint, 0), 1),
        ];
        for (ty, n) in cases {
            assert_eq!(max_size(&ty, &t), n, "{ty:?}");
        }
    }

    #[test]
    fn bounded() {
        let t = HashMap::new();
        assert_eq!(max_size(&Type::String(1), &t), 2);
        assert_eq!(max_size(&Type::String(127), &t), 128);
        assert_eq!(max_size(&Type::String(128), &t), 130);
        assert_eq!(max_size(&Type::Bytes(512), &t), 514);
    }

    #[test]
    fn enums_by_variant_count() {
        let small = TypeBody::Enum(variants(128));
        let big = TypeBody::Error(variants(129));
        let t: HashMap<&str, &TypeBody> = [("Small", &small), ("Big", &big)].into();
        assert_eq!(max_size(&Type::Named("Small".into()), &t), 1);
        assert_eq!(max_size(&Type::Named("Big".into()), &t), 2);
    }

    #[test]
    fn nested_structs_add_up() {
        let inner = TypeBody::Struct(vec![field(Type::I32), field(Type::U8)]);
        let outer = TypeBody::Struct(vec![
            field(Type::Named("Inner".into())),
            field(Type::Named("Inner".into())),
            field(Type::String(200)),
        ]);
        let empty = TypeBody::Struct(vec![]);
        let t: HashMap<&str, &TypeBody> =
            [("Inner", &inner), ("Outer", &outer), ("Empty", &empty)].into();
        assert_eq!(max_size(&Type::Named("Inner".into()), &t), 6);
        assert_eq!(max_size(&Type::Named("Outer".into()), &t), 6 + 6 + 202);
        assert_eq!(max_size(&Type::Named("Empty".into()), &t), 0);
    }

    #[test]
    fn replies_cover_errors_and_version() {
        let e = TypeBody::Error(variants(3));
        let t: HashMap<&str, &TypeBody> = [("E", &e)].into();
        let mut m = crate::Method {
            name: "m".into(),
            pos: Pos::default(),
            docs: Vec::new(),
            id: 0,
            args: vec![field(Type::U64), field(Type::Bytes(300))],
            result: Type::Unit,
            result_pos: Pos::default(),
            error: Some("E".into()),
            error_pos: Pos::default(),
            request_max: 0,
            reply_max: 0,
        };
        // `()` result, 1-byte error: the 3-byte version reply is the largest.
        assert_eq!(method_sizes(&m, &t), (10 + 302, 3));
        m.result = Type::String(40);
        assert_eq!(method_sizes(&m, &t), (312, 41));
    }
}
