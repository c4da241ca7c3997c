//! Workspaces on SQLite and PostgreSQL: what `create` hands out works, what
//! is kept is only what may be kept, and bad keys and origins are refused.

use super::*;
use crate::crypto::Sealer;
use crate::store::test_support;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

async fn stores() -> Vec<Store> {
    let mut out = Vec::new();
    for url in test_support::all_urls().await {
        out.push(Store::connect(&url, Sealer::new([5; 32])).await.expect("connect and migrate"));
    }
    out
}

fn public_pem(bits: usize) -> String {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
    key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap()
}

#[tokio::test]
async fn a_created_workspace_gets_a_working_api_key_and_a_private_key_only_it_holds() {
    for store in stores().await {
        let origins = vec!["https://App.Example.com/".to_owned(), "http://localhost:5173".to_owned()];
        let c = create(&store, " Acme ", &origins).await.unwrap();
        assert_eq!(c.workspace.name, "Acme");
        assert_eq!(c.workspace.allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
        assert_eq!(get(&store, &c.workspace.id).await.unwrap(), c.workspace);

        // The API key authenticates; only its hash and prefix are stored.
        let key = c.api_key.key.expose();
        assert!(key.starts_with(API_KEY_PREFIX) && key.len() > 40, "{key}");
        let found = authenticate(&store, key).await.unwrap().expect("the key authenticates");
        assert_eq!(found.workspace_id, c.workspace.id);
        let stored: Vec<(String, String)> =
            sqlx::query_as("SELECT key_hash, prefix FROM workspace_api_keys").fetch_all(store.pool()).await.unwrap();
        assert!(stored.iter().all(|(hash, prefix)| !hash.contains(key) && key.starts_with(prefix.as_str())));
        assert!(authenticate(&store, &format!("{key}x")).await.unwrap().is_none());
        assert!(authenticate(&store, "not-a-key").await.unwrap().is_none());

        // A token signed with the private key verifies with the stored public key.
        let keys = store.signing_keys(&c.workspace.id).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, c.signing_key.kid);
        let private = EncodingKey::from_rsa_pem(c.private_key_pem.expose().as_bytes()).unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &serde_json::json!({"exp": 4_000_000_000u64}),
            &private,
        )
        .unwrap();
        let public = DecodingKey::from_rsa_pem(keys[0].public_key_pem.as_bytes()).unwrap();
        jsonwebtoken::decode::<serde_json::Value>(&token, &public, &Validation::new(Algorithm::RS256)).unwrap();
        // ... and no stored column holds the private key.
        let pems: Vec<(String,)> =
            sqlx::query_as("SELECT public_key_pem FROM workspace_signing_keys").fetch_all(store.pool()).await.unwrap();
        assert!(pems.iter().all(|(p,)| !p.contains("PRIVATE")));

        // More keys, one revoked.
        let second = issue_api_key(&store, &c.workspace.id, "ci").await.unwrap();
        revoke_api_key(&store, &c.workspace.id, &c.api_key.row.id).await.unwrap();
        assert!(authenticate(&store, key).await.unwrap().is_none(), "a revoked key is refused");
        assert!(authenticate(&store, second.key.expose()).await.unwrap().is_some());
        assert!(matches!(
            revoke_api_key(&store, &c.workspace.id, &c.api_key.row.id).await,
            Err(WorkspaceError::UnknownApiKey(_))
        ));
        assert!(matches!(issue_api_key(&store, "ws_nope", "x").await, Err(WorkspaceError::UnknownWorkspace(_))));
        store.close().await;
    }
}

#[tokio::test]
async fn a_workspace_brings_its_own_public_keys_all_or_none() {
    for store in stores().await {
        let c = create(&store, "Beta", &[]).await.unwrap();
        let id = &c.workspace.id;
        let (a, b) = (public_pem(2048), public_pem(2048));
        let added =
            add_public_keys(&store, id, &[(Some("2026-12".into()), a.clone()), (None, b.clone())]).await.unwrap();
        assert_eq!(added[0].kid, "2026-12");
        assert_eq!(store.signing_keys(id).await.unwrap().len(), 3);
        assert_eq!(store.signing_key("2026-12").await.unwrap().unwrap().workspace_id, *id);

        // Refused, and nothing of the batch is added.
        let before = store.signing_keys(id).await.unwrap().len();
        let refused = [
            (vec![(Some("ok-1".into()), a.clone()), (Some("2026-12".into()), b.clone())], "taken kid"),
            (
                vec![
                    (Some("ok-2".into()), a.clone()),
                    (None, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into()),
                ],
                "garbage",
            ),
            (vec![(Some("weak".into()), public_pem(1024))], "1024-bit"),
            (vec![(Some("bad kid!".into()), a.clone())], "kid with a space"),
            (vec![(Some("twice".into()), a.clone()), (Some("twice".into()), b.clone())], "the same kid twice"),
        ];
        for (keys, why) in refused {
            assert!(add_public_keys(&store, id, &keys).await.is_err(), "{why} is refused");
        }
        assert_eq!(store.signing_keys(id).await.unwrap().len(), before);
        assert!(matches!(
            add_public_keys(&store, id, &[(None, public_pem(1024))]).await,
            Err(WorkspaceError::WeakKey(1024))
        ));

        revoke_signing_key(&store, id, "2026-12").await.unwrap();
        assert!(store.signing_key("2026-12").await.unwrap().unwrap().revoked_at.is_some());
        store.close().await;
    }
}

#[test]
fn origins_are_scheme_host_and_port_only() {
    assert_eq!(normalize_origin("https://app.example.com").unwrap(), "https://app.example.com");
    assert_eq!(normalize_origin("HTTPS://APP.example.com:443/").unwrap(), "https://app.example.com");
    assert_eq!(normalize_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
    for bad in ["app.example.com", "ftp://x.example", "https://x.example/path", "https://u:p@x.example", "*", ""] {
        assert!(normalize_origin(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_pkcs1_public_key_is_accepted_and_stored_as_spki() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap().to_public_key();
    let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap();
    let stored = normalize_public_key(&pkcs1).unwrap();
    assert!(stored.starts_with("-----BEGIN PUBLIC KEY-----"), "{stored}");
    assert_eq!(rsa::RsaPublicKey::from_public_key_pem(&stored).unwrap(), key);
}
