//! The `dream` command: parses the CLI, loads config, sets up tracing, and calls the
//! library.

mod telemetry;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use dream_bin::{admin_cli, config::Config, Application};

#[derive(Parser)]
#[command(
    name = "dream",
    version,
    about = "API keys, tiers, usage limits and billing for your app"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (config: dream.toml, then DREAM_* env).
    Serve,
    /// Print the OpenAPI spec as JSON.
    Openapi,
    /// Apply pending PostgreSQL migrations (DATABASE_URL), then exit.
    Migrate,
    /// Copy the SQLite database (DREAM_DATA_DIR) to PATH, safely while a server
    /// runs on it. PATH must not exist.
    Backup {
        /// Where to write the copy.
        path: PathBuf,
    },
    /// Operator commands against a running server.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a demo platform (free / pro / enterprise) and print its keys.
    Bootstrap {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        /// test or live.
        #[arg(long, default_value = "test")]
        mode: String,
        /// The server's admin token.
        #[arg(long, env = "DREAM_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
    /// Create a developer account (also when sign-up is closed). The password is
    /// read from standard input, never from the command line:
    /// `dream admin create-account --email ada@example.com < password.txt`.
    CreateAccount {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        /// The server's admin token.
        #[arg(long, env = "DREAM_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
}

/// The first line of standard input, without its line ending. A terminal is
/// refused: what is typed there would be shown.
fn password_from_stdin() -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(
            "pipe the password on standard input (`< password.txt`): a terminal would show it"
                .into(),
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password.to_owned())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn serve() -> Result<(), String> {
    let config = Config::load().map_err(|e| e.to_string())?;
    let telemetry = telemetry::init(&config).map_err(|e| e.to_string())?;
    if config.admin_token.is_none() {
        tracing::warn!("DREAM_ADMIN_TOKEN is not set: /create-products and /admin/* are disabled");
    }
    let served = match Application::build(&config).await {
        Ok(app) => app.run_until(shutdown_signal()).await,
        Err(err) => Err(err),
    };
    // The flush blocks on the exporter: off the runtime's worker threads.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    served.map_err(|e| e.to_string())
}

async fn migrate() -> Result<(), String> {
    let config = Config::load().map_err(|e| e.to_string())?;
    let telemetry = telemetry::init(&config).map_err(|e| e.to_string())?;
    let applied = dream_bin::migrate(&config).await.map_err(|e| e.to_string());
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    let applied = applied?;
    println!("{applied} migration(s) applied; the database is current");
    Ok(())
}

async fn backup(path: PathBuf) -> Result<(), String> {
    let config = Config::load().map_err(|e| e.to_string())?;
    let bytes = dream_bin::backup(&config, &path)
        .await
        .map_err(|e| e.to_string())?;
    println!("backed up to {} ({bytes} bytes)", path.display());
    Ok(())
}

async fn create_account(url: &str, admin_token: &str, email: &str) -> Result<(), String> {
    let password = password_from_stdin()?;
    let account = admin_cli::create_account(url, admin_token, email, &password)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&account).unwrap_or_default()
    );
    eprintln!(
        "The account's owner logs in with this email and password, then changes the password."
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::Backup { path } => backup(path).await,
        Command::Openapi => {
            println!("{}", dream_http::openapi_json());
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Bootstrap {
                    url,
                    mode,
                    admin_token,
                },
        } => match admin_cli::bootstrap(&url, &admin_token, &mode).await {
            Ok(body) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
                eprintln!("Store the secretKey now: it is shown only once.");
                Ok(())
            }
            Err(err) => Err(err.to_string()),
        },
        Command::Admin {
            command:
                AdminCommand::CreateAccount {
                    email,
                    url,
                    admin_token,
                },
        } => create_account(&url, &admin_token, &email).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dream: {message}");
            ExitCode::FAILURE
        }
    }
}
