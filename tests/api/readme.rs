//! The README's examples, run as written: each `curl` of its "Examples"
//! block against a real server whose Twilio is the fake of `twilio.rs`.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app_with_carrier, RoutesCalls, WEBHOOK};
use crate::twilio::{FakeTwilio, NUMBER};

const README: &str = include_str!("../../README.md");
/// Where the README's examples say the server is.
const README_SERVER: &str = "http://127.0.0.1:8000";

/// The lines of the `sh` block under "### Examples", continuations joined.
fn example_lines() -> Vec<String> {
    let section = &README[README.find("### Examples").expect("the README has examples")..];
    let block = &section[section.find("```sh\n").expect("a sh block") + 6..];
    let block = &block[..block.find("```").expect("the block ends")];
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
}

/// A line split into shell words, `$NAME` expanded outside single quotes;
/// a `#` starting a word ends the line.
fn words(line: &str, vars: &HashMap<String, String>) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '$') => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if !(n.is_ascii_alphanumeric() || n == '_') {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                let value = vars.get(&name).unwrap_or_else(|| panic!("${name} is not set"));
                word.get_or_insert_with(String::new).push_str(value);
            }
            (_, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// One `curl` of the examples.
struct Curl {
    method: Method,
    headers: Vec<(String, String)>,
    body: Option<String>,
    url: String,
}

fn curl(words: &[String]) -> Curl {
    assert_eq!(words[0], "curl");
    let (mut method, mut headers, mut body, mut url) = (None, Vec::new(), None, None);
    let mut args = words[1..].iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-s" => {}
            "-X" => method = Some(Method::from_bytes(args.next().unwrap().as_bytes()).unwrap()),
            "-H" => {
                let (name, value) = args.next().unwrap().split_once(": ").unwrap();
                headers.push((name.to_string(), value.to_string()));
            }
            "-d" => body = args.next().cloned(),
            other if other.starts_with('-') => panic!("the README's curl uses {other}, which this test does not know"),
            other => url = Some(other.to_string()),
        }
    }
    let default = if body.is_some() { Method::POST } else { Method::GET };
    Curl {
        method: method.unwrap_or(default),
        headers,
        body,
        url: url.expect("a URL"),
    }
}

#[tokio::test]
async fn the_readme_examples_work_as_written() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let twilio = FakeTwilio::owning();
    twilio.mount(&carrier).await;
    let mut vars = HashMap::new();
    let mut answers: Vec<(Curl, Value)> = Vec::new();
    for line in example_lines() {
        let line = line.trim();
        // `NAME=$(curl … | jq .id)`: a curl whose answer's id is kept.
        let (capture, command) = match line.split_once("=$(") {
            Some((name, rest)) => {
                let command = rest.strip_suffix(" | jq .id)").expect("a capture ends in | jq .id)");
                (Some(name.to_string()), command)
            }
            None => (None, line),
        };
        let words = words(command, &vars);
        let Some(first) = words.first() else { continue };
        if first != "curl" {
            let (name, value) = first.split_once('=').expect("an assignment or a curl");
            let value = match name {
                "KEY" => app.key.clone(),
                "API" => value.replacen(README_SERVER, &app.address, 1),
                _ => value.to_string(),
            };
            assert!(
                name != "API" || value.starts_with(&app.address),
                "API is {README_SERVER}/…"
            );
            vars.insert(name.to_string(), value);
            continue;
        }
        let curl = curl(&words);
        let mut request = app.client.request(curl.method.clone(), &curl.url);
        for (name, value) in &curl.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &curl.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{} {}: {answer}", curl.method, curl.url);
        if let Some(name) = capture {
            vars.insert(name, answer["id"].to_string());
        }
        // What the README says each step does, at the carrier too.
        let body = curl.body.clone().unwrap_or_default();
        if body.contains("inbound_workflow_id") {
            assert_eq!(answer["inbound_workflow_name"], "Support line");
            assert_eq!(answer["provider_sync"]["ok"], true, "{answer}");
            assert_eq!(twilio.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
        }
        if body.contains("clear_inbound_workflow") {
            assert_eq!(answer["inbound_workflow_id"], Value::Null);
            assert_eq!(answer["provider_sync"]["ok"], true, "{answer}");
            assert_eq!(twilio.inbound_url(NUMBER), None);
        }
        if body.contains("\"address\"") {
            assert_eq!(answer["address_normalized"], NUMBER);
        }
        answers.push((curl, answer));
    }
    // One example per area: a workflow, a configuration, a number, a bind, a clear.
    let step = |what: &str| {
        answers
            .iter()
            .any(|(curl, _)| curl.body.as_deref().unwrap_or("").contains(what))
    };
    for what in [
        "\"name\"",
        "\"config\"",
        "\"address\"",
        "inbound_workflow_id",
        "clear_inbound_workflow",
    ] {
        assert!(step(what), "the README's examples have no request with {what}");
    }
}
