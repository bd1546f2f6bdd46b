//! User-agent classification: device class, browser, OS, and whether a bot sent it.
//!
//! Bots are clicks no person made: crawlers, HTTP libraries, and the link-preview fetchers
//! of chat and social apps, which "click" every link pasted into a conversation.

use woothee::parser::Parser;

/// Substrings of agents that are bots even when woothee calls them browsers.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "facebookexternalhit",
    "facebookcatalog",
    "whatsapp",
    "telegram",
    "skypeuripreview",
    "embedly",
    "iframely",
    "vkshare",
    "pinterest",
    "bitlybot",
    "preview",
    "headlesschrome",
    "phantomjs",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "httpclient",
    "axios/",
    "node-fetch",
    "scrapy",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device: &'static str,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub is_bot: bool,
}

fn known(value: &str) -> Option<String> {
    (!value.is_empty() && value != "UNKNOWN").then(|| value.to_owned())
}

pub fn classify(user_agent: Option<&str>) -> Agent {
    let ua = user_agent.unwrap_or_default().trim();
    // Real browsers always send an agent.
    if ua.is_empty() {
        return Agent {
            device: "bot",
            browser: None,
            os: None,
            is_bot: true,
        };
    }
    let lower = ua.to_ascii_lowercase();
    let parsed = Parser::new().parse(ua);
    let category = parsed.as_ref().map(|r| r.category).unwrap_or("UNKNOWN");
    let is_bot = category == "crawler" || BOT_MARKERS.iter().any(|m| lower.contains(m));
    let os = parsed.as_ref().and_then(|r| known(r.os));
    let tablet = lower.contains("ipad") || (lower.contains("android") && !lower.contains("mobile"));
    let device = if is_bot {
        "bot"
    } else {
        match category {
            "pc" => "desktop",
            "smartphone" | "mobilephone" if tablet => "tablet",
            "smartphone" | "mobilephone" => "mobile",
            _ => "other",
        }
    };
    Agent {
        device,
        browser: parsed.as_ref().and_then(|r| known(r.name)),
        os,
        is_bot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_people_on_their_device() {
        let iphone = classify(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"));
        assert_eq!((iphone.device, iphone.is_bot), ("mobile", false));
        assert_eq!(iphone.os.as_deref(), Some("iPhone"));
        assert_eq!(iphone.browser.as_deref(), Some("Safari"));
        let windows = classify(Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"));
        assert_eq!(windows.device, "desktop");
        assert_eq!(windows.browser.as_deref(), Some("Chrome"));
        let ipad = classify(Some("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"));
        assert_eq!(ipad.device, "tablet");
    }

    #[test]
    fn crawlers_preview_fetchers_and_libraries_are_bots() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0",
            "TelegramBot (like TwitterBot)",
            "curl/8.5.0",
            "python-requests/2.31.0",
        ] {
            let agent = classify(Some(ua));
            assert!(agent.is_bot, "{ua}");
            assert_eq!(agent.device, "bot");
        }
        assert!(classify(None).is_bot);
    }
}
