//! The CLI speaks Chinese when the locale is zh: an import's refused rows are told in Chinese,
//! and in English otherwise, from the same catalogue the web uses.

use std::process::Command;

fn import_bad_csv(lang: &str) -> (String, bool) {
    let dir = std::env::temp_dir().join(format!("huanxin-cli-locale-{}-{}", std::process::id(), lang.replace('.', "-")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let csv = dir.join("estates.csv");
    std::fs::write(&csv, "小区编码,小区名称,社区代码,建成年份\nHA-1,螺城花园,350521100001,一九九五\n").expect("the file is written");
    let out = Command::new(env!("CARGO_BIN_EXE_huanxin"))
        .args(["import", "estates"])
        .arg(&csv)
        .env_clear()
        .env("LANG", lang)
        .env("HUANXIN_DATA_DIR", dir.join("data"))
        .env("HUANXIN_LOG", "error")
        .output()
        .expect("the CLI runs");
    let _ = std::fs::remove_dir_all(&dir);
    (String::from_utf8_lossy(&out.stderr).to_string(), out.status.success())
}

#[test]
fn a_refused_import_is_told_in_chinese_under_a_chinese_locale() {
    let (err, ok) = import_bad_csv("zh_CN.UTF-8");
    assert!(!ok, "{err}");
    assert!(err.contains("第 2 行") && err.contains("不是年份"), "{err}");
    assert!(err.contains("未导入任何数据"), "{err}");
}

#[test]
fn and_in_english_otherwise() {
    let (err, ok) = import_bad_csv("C.UTF-8");
    assert!(!ok, "{err}");
    assert!(err.contains("row 2") && err.contains("is not a year"), "{err}");
}
