use llm_relay::chat::fix::{fix_hunyuan, FixPolicy, ModelCaps};
use serde_json::{json, Value};
include!("/tmp/eyeball/body.rs");
#[test]
fn show() {
    let mut v = agent_request();
    fix_hunyuan(&mut v, &FixPolicy::default(), CAPS);
    for m in v["messages"].as_array().unwrap() {
        let c = m["content"].as_str().unwrap_or("");
        println!("{:9} {:?} {}", m["role"].as_str().unwrap(), m.get("tool_call_id"), &c.chars().take(70).collect::<String>().replace('\n', "⏎"));
    }
    let mut o = v.as_object().unwrap().clone(); o.remove("messages");
    println!("{}", serde_json::to_string(&o).unwrap());
}
