//! Paged lists: `limit`, `after_id` and `q` on the phone-number and
//! configuration lists, the `Link: rel="next"` header, and their 422s.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{expect_json, numbers_path, spawn_app_with, TestApp};

fn ari() -> Value {
    json!({"provider": "ari", "ari_endpoint": "http://pbx:8088", "app_name": "tb", "app_password": "pw-123456"})
}

const CONFIGS: &str = "/api/v1/organizations/telephony-configs";

/// An app with one configuration of five numbers, labelled "sales" or "support".
async fn app_with_numbers() -> (TestApp, Value, Vec<i64>) {
    let app = spawn_app_with(|c| c.sync.verify_ownership = false).await;
    let cfg = app.create_config("Main", ari()).await["id"].clone();
    let mut ids = Vec::new();
    for (i, label) in ["sales", "support", "sales", "support", "sales"].iter().enumerate() {
        let body = json!({"address": format!("+1415555010{i}"), "label": label});
        ids.push(app.create_number(&cfg, body).await["id"].as_i64().unwrap());
    }
    (app, cfg, ids)
}

/// A page as `key`: the ids on it and its `Link` header.
async fn page_as(app: &TestApp, key: &str, path: &str, list: &str) -> (Vec<i64>, Option<String>) {
    let response = app.send(Method::GET, path, Some(key), None).await;
    let link = response.headers().get("link").map(|v| v.to_str().unwrap().to_string());
    let body = expect_json(response, 200, path).await;
    let ids = body[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    (ids, link)
}

async fn page(app: &TestApp, path: &str, list: &str) -> (Vec<i64>, Option<String>) {
    page_as(app, &app.key, path, list).await
}

/// The path of a `Link: <path>; rel="next"` header.
fn next_path(link: &str) -> &str {
    link.strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap()
}

#[tokio::test]
async fn pages_follow_the_next_links_to_the_last_page() {
    let (app, cfg, ids) = app_with_numbers().await;
    let list = numbers_path(&cfg);
    let (first, link) = page(&app, &format!("{list}?limit=2"), "phone_numbers").await;
    assert_eq!(first, ids[0..2]);
    let link = link.expect("a next page");
    assert_eq!(link, format!("<{list}?limit=2&after_id={}>; rel=\"next\"", ids[1]));
    let (second, link) = page(&app, next_path(&link), "phone_numbers").await;
    assert_eq!(second, ids[2..4]);
    let (last, link) = page(&app, next_path(&link.unwrap()), "phone_numbers").await;
    assert_eq!(
        (last, link),
        (ids[4..].to_vec(), None),
        "the last page has no next link"
    );
}

#[tokio::test]
async fn a_page_that_ends_exactly_at_the_end_has_no_next_link_and_after_the_last_is_empty() {
    let (app, cfg, ids) = app_with_numbers().await;
    let list = numbers_path(&cfg);
    assert_eq!(
        page(&app, &format!("{list}?limit=5"), "phone_numbers").await,
        (ids.clone(), None)
    );
    let after_last = format!("{list}?limit=2&after_id={}", ids[4]);
    assert_eq!(page(&app, &after_last, "phone_numbers").await, (vec![], None));
}

#[tokio::test]
async fn without_paging_parameters_the_whole_list_comes_back_unchanged() {
    let (app, cfg, ids) = app_with_numbers().await;
    let whole = app.call(Method::GET, &numbers_path(&cfg), None, 200).await;
    assert_eq!(whole.as_object().unwrap().len(), 1, "{whole}");
    assert_eq!(page(&app, &numbers_path(&cfg), "phone_numbers").await, (ids, None));
}

#[tokio::test]
async fn q_filters_on_a_substring_of_the_address_or_the_label_and_pages_keep_it() {
    let (app, cfg, ids) = app_with_numbers().await;
    let list = numbers_path(&cfg);
    let (sales, link) = page(&app, &format!("{list}?q=sales&limit=2"), "phone_numbers").await;
    assert_eq!(sales, [ids[0], ids[2]]);
    let link = link.unwrap();
    assert!(link.contains("&q=sales>"), "{link}");
    assert_eq!(
        page(&app, next_path(&link), "phone_numbers").await,
        (vec![ids[4]], None)
    );
    // The normalized address of the fourth number: +14155550103.
    assert_eq!(page(&app, &format!("{list}?q=0103"), "phone_numbers").await.0, [ids[3]]);
    assert_eq!(page(&app, &format!("{list}?q=%2B1415"), "phone_numbers").await.0, ids);
    assert_eq!(
        page(&app, &format!("{list}?q=nothing"), "phone_numbers").await,
        (vec![], None)
    );
}

#[tokio::test]
async fn after_id_of_another_orgs_or_configs_number_is_an_empty_page_not_its_neighbours() {
    let (app, cfg, ids) = app_with_numbers().await;
    let acme = app.org_key("acme");
    let theirs = expect_json(
        app.send(
            Method::POST,
            CONFIGS,
            Some(&acme),
            Some(json!({"name": "Theirs", "config": ari()})),
        )
        .await,
        200,
        "acme's config",
    )
    .await["id"]
        .clone();
    let their_number = app
        .call_as(
            &acme,
            Method::POST,
            &numbers_path(&theirs),
            Some(json!({"address": "+14155550199"})),
            200,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let ours = format!("{}?after_id={their_number}", numbers_path(&cfg));
    assert_eq!(page(&app, &ours, "phone_numbers").await, (vec![], None));
    // And ours, asked for in acme's configuration, are not its neighbours either.
    let theirs_after_ours = format!("{}?after_id={}", numbers_path(&theirs), ids[0]);
    assert_eq!(
        page_as(&app, &acme, &theirs_after_ours, "phone_numbers").await,
        (vec![], None)
    );
    let other_cfg = app.create_config("Second", ari()).await["id"].clone();
    let other = format!("{}?after_id={}", numbers_path(&other_cfg), ids[0]);
    assert_eq!(page(&app, &other, "phone_numbers").await, (vec![], None));
}

#[tokio::test]
async fn bad_paging_values_are_422_with_every_problem_in_the_query() {
    let (app, cfg, _) = app_with_numbers().await;
    for list in [numbers_path(&cfg), CONFIGS.to_string()] {
        let answer = app
            .call(Method::GET, &format!("{list}?limit=0&after_id=x"), None, 422)
            .await;
        assert_eq!(
            answer,
            json!({"detail": [
                {"type": "greater_than_equal", "loc": ["query", "limit"],
                 "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}},
                {"type": "int_parsing", "loc": ["query", "after_id"],
                 "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"},
            ]}),
            "{list}"
        );
        let answer = app.call(Method::GET, &format!("{list}?limit=1001"), None, 422).await;
        assert_eq!(
            answer["detail"][0],
            json!({"type": "less_than_equal", "loc": ["query", "limit"],
                   "msg": "Input should be less than or equal to 1000", "input": "1001", "ctx": {"le": 1000}})
        );
        let answer = app
            .call(Method::GET, &format!("{list}?after_id=-3&limit=ten"), None, 422)
            .await;
        let kinds: Vec<&str> = answer["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["int_parsing", "greater_than"], "{answer}");
    }
    app.call(Method::GET, &format!("{}?limit=1000", numbers_path(&cfg)), None, 200)
        .await;
}

#[tokio::test]
async fn configurations_page_and_filter_by_name_the_same_way() {
    let app = spawn_app_with(|c| c.sync.verify_ownership = false).await;
    let mut ids = Vec::new();
    for name in ["Sales EU", "Support", "Sales US"] {
        ids.push(app.create_config(name, ari()).await["id"].as_i64().unwrap());
    }
    let (first, link) = page(&app, &format!("{CONFIGS}?limit=2"), "configurations").await;
    assert_eq!(first, ids[0..2]);
    let link = link.unwrap();
    assert_eq!(link, format!("<{CONFIGS}?limit=2&after_id={}>; rel=\"next\"", ids[1]));
    assert_eq!(
        page(&app, next_path(&link), "configurations").await,
        (vec![ids[2]], None)
    );
    assert_eq!(
        page(&app, &format!("{CONFIGS}?q=Sales"), "configurations").await.0,
        [ids[0], ids[2]]
    );
    let acme = app.org_key("acme");
    let (theirs, _) = page_as(&app, &acme, &format!("{CONFIGS}?after_id={}", ids[0]), "configurations").await;
    assert_eq!(theirs, Vec::<i64>::new());
}
