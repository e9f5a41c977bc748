//! What every page shares: the title, the account, the app with its mode switch
//! and tabs, and a one-time message.

use dream_core::{Mode, Platform};

/// The layout's data.
pub(crate) struct Chrome {
    pub title: String,
    pub css: String,
    pub js: String,
    pub icon: String,
    pub account_email: Option<String>,
    pub app: Option<AppChrome>,
    pub flash: Option<Flash>,
}

impl Chrome {
    /// A page outside any app (sign-in, the apps list).
    pub(crate) fn new(title: impl Into<String>, account_email: Option<String>) -> Self {
        Self {
            title: title.into(),
            css: crate::assets::css_href(),
            js: crate::assets::js_href(),
            icon: crate::assets::icon_href(),
            account_email,
            app: None,
            flash: None,
        }
    }

    /// A page of one app in one mode, with `section` as the current tab.
    pub(crate) fn for_app(
        title: impl Into<String>,
        account_email: String,
        platform: &Platform,
        mode: Mode,
        section: Section,
    ) -> Self {
        let mut chrome = Self::new(title, Some(account_email));
        chrome.app = Some(AppChrome::new(platform, mode, section));
        chrome
    }

    pub(crate) fn with_flash(mut self, flash: Option<Flash>) -> Self {
        self.flash = flash;
        self
    }
}

/// The sections of an app, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Customers,
    Tiers,
    Keys,
    Stripe,
    Webhooks,
    Events,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Overview,
        Section::Customers,
        Section::Tiers,
        Section::Keys,
        Section::Stripe,
        Section::Webhooks,
        Section::Events,
    ];

    fn label(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Customers => "Customers",
            Section::Tiers => "Tiers",
            Section::Keys => "API keys",
            Section::Stripe => "Stripe",
            Section::Webhooks => "Webhooks",
            Section::Events => "Events",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Section::Overview => "",
            Section::Customers => "customers",
            Section::Tiers => "tiers",
            Section::Keys => "keys",
            Section::Stripe => "stripe",
            Section::Webhooks => "webhooks",
            Section::Events => "events",
        }
    }
}

/// The app part of the layout.
pub(crate) struct AppChrome {
    pub name: String,
    pub live: bool,
    pub test_href: String,
    pub live_href: String,
    pub tabs: Vec<Tab>,
}

/// One tab of an app's navigation.
pub(crate) struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

impl AppChrome {
    fn new(platform: &Platform, mode: Mode, current: Section) -> Self {
        Self {
            name: platform
                .name
                .clone()
                .unwrap_or_else(|| platform.id.to_string()),
            live: mode == Mode::Live,
            test_href: app_href(platform, Mode::Test, current.slug()),
            live_href: app_href(platform, Mode::Live, current.slug()),
            tabs: Section::ALL
                .iter()
                .map(|&section| Tab {
                    label: section.label(),
                    href: app_href(platform, mode, section.slug()),
                    current: section == current,
                })
                .collect(),
        }
    }
}

/// `/dashboard/apps/{platform}/{mode}/{rest}`.
pub(crate) fn app_href(platform: &Platform, mode: Mode, rest: &str) -> String {
    let mode = match mode {
        Mode::Test => "test",
        Mode::Live => "live",
    };
    if rest.is_empty() {
        format!("/dashboard/apps/{}/{mode}", platform.id)
    } else {
        format!("/dashboard/apps/{}/{mode}/{rest}", platform.id)
    }
}

/// A message shown once at the top of a page.
pub(crate) struct Flash {
    pub class: &'static str,
    pub role: &'static str,
    pub text: String,
}

impl Flash {
    pub(crate) fn ok(text: impl Into<String>) -> Self {
        Self {
            class: "ok",
            role: "status",
            text: text.into(),
        }
    }

    pub(crate) fn error(text: impl Into<String>) -> Self {
        Self {
            class: "error",
            role: "alert",
            text: text.into(),
        }
    }
}
