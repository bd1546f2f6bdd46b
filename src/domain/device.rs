//! The coarse device class redirect rules match on, from the User-Agent alone.
//! (Full browser / OS parsing happens in the worker, off the redirect path.)

use super::link::Device;

pub fn classify(user_agent: &str) -> Device {
    if ["iPhone", "iPad", "iPod"]
        .iter()
        .any(|p| user_agent.contains(p))
    {
        Device::Ios
    } else if user_agent.contains("Android") {
        Device::Android
    } else if user_agent.contains("Mobile") {
        Device::Mobile
    } else {
        Device::Desktop
    }
}

/// Whether a rule for `wanted` applies to a visitor on `actual`.
pub fn matches(wanted: Device, actual: Device) -> bool {
    wanted == actual
        || (wanted == Device::Mobile && matches!(actual, Device::Ios | Device::Android))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36";
    const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

    #[test]
    fn common_agents_are_classified() {
        assert_eq!(classify(IPHONE), Device::Ios);
        assert_eq!(classify(ANDROID), Device::Android);
        assert_eq!(classify(DESKTOP), Device::Desktop);
        assert_eq!(classify(""), Device::Desktop);
    }

    #[test]
    fn a_mobile_rule_covers_both_phone_platforms() {
        assert!(matches(Device::Mobile, Device::Ios));
        assert!(matches(Device::Mobile, Device::Android));
        assert!(!matches(Device::Mobile, Device::Desktop));
        assert!(!matches(Device::Ios, Device::Android));
    }
}
