using System.Buffers;
using System.Text;
using Npgsql;

namespace CrabLambda.PostgreSql;

/// <summary>
/// Turns the <c>postgresql://</c> URLs that hosting platforms hand out into Npgsql connection strings.
/// </summary>
/// <remarks>
/// The accepted form is <c>postgresql://user:password@host:port/database?name=value&amp;…</c> (also
/// <c>postgres://</c>): the user name, password and database percent-encoded, an IPv6 host in brackets, port 5432
/// unless given. Parameters take libpq's names (<c>sslmode</c>, <c>connect_timeout</c>, <c>application_name</c>,
/// <c>sslrootcert</c> …) or any Npgsql keyword (<c>pooling</c>, <c>timeout</c>, <c>maximum_pool_size</c> …, with
/// underscores for spaces). Error messages never contain the password.
/// </remarks>
public static class PostgresConnectionString
{
    private const int DefaultPort = 5432;

    private static readonly SearchValues<char> _schemeCharacters =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");

    private static readonly UTF8Encoding _strictUtf8 = new(
        encoderShouldEmitUTF8Identifier: false,
        throwOnInvalidBytes: true);

    // libpq's parameter names that are not also Npgsql keywords.
    private static readonly Dictionary<string, string> _libpqParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        ["user"] = "Username",
        ["dbname"] = "Database",
        ["connect_timeout"] = "Timeout",
        ["sslmode"] = "SSL Mode",
        ["sslrootcert"] = "Root Certificate",
        ["sslcert"] = "SSL Certificate",
        ["sslkey"] = "SSL Key",
        ["sslpassword"] = "SSL Password",
        ["application_name"] = "Application Name",
        ["target_session_attrs"] = "Target Session Attributes",
    };

    private static readonly Dictionary<string, string> _sslModes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["disable"] = "Disable",
        ["allow"] = "Allow",
        ["prefer"] = "Prefer",
        ["require"] = "Require",
        ["verify-ca"] = "VerifyCA",
        ["verify-full"] = "VerifyFull",
    };

    /// <summary>
    /// Converts a <c>postgresql://</c> or <c>postgres://</c> URL into an Npgsql connection string.
    /// </summary>
    /// <param name="url">The URL, for example
    /// <c>postgresql://app:s%40cret@db.internal:5432/crablambda?sslmode=require</c>.</param>
    /// <returns>The equivalent Npgsql connection string.</returns>
    /// <exception cref="FormatException">The URL is malformed; the message says where, without the password.
    /// </exception>
    public static string FromUrl(string url)
    {
        ArgumentNullException.ThrowIfNull(url);

        var rest = StripScheme(url.Trim());
        var builder = new NpgsqlConnectionStringBuilder { Port = DefaultPort };

        var authorityEnd = rest.IndexOfAny(['/', '?']);
        var authority = authorityEnd >= 0 ? rest[..authorityEnd] : rest;
        var tail = authorityEnd >= 0 ? rest[authorityEnd..] : "";

        // An '@' past the host means a '/' or '?' in the password was not encoded. Stopping here keeps the
        // password's pieces out of the messages below, which quote parameter values.
        if (tail.Contains('@'))
        {
            throw new FormatException(
                "The URL has an '@' after the host; percent-encode '@', '/', '?' and '#' in the user name, the "
                + "password and parameter values (%40, %2F, %3F, %23).");
        }

        // The last '@' ends the user information, so an unencoded '@' in a password still parses.
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            ReadUserInfo(authority[..at], builder);
        }

        ReadHostAndPort(authority[(at + 1)..], builder);

        var queryStart = tail.IndexOf('?');
        var path = queryStart >= 0 ? tail[..queryStart] : tail;
        var query = queryStart >= 0 ? tail[(queryStart + 1)..] : "";
        path = path.StartsWith('/') ? path[1..] : path;
        if (path.Contains('/'))
        {
            throw new FormatException(
                "The database name in the URL contains '/'; percent-encode it as %2F or remove the extra path.");
        }

        if (path.Length > 0)
        {
            builder.Database = Decode(path, "database name");
        }

        ReadParameters(query, builder);

        if (string.IsNullOrEmpty(builder.Host))
        {
            throw new FormatException("The URL names no host: write postgresql://user:password@host/database.");
        }

        return builder.ConnectionString;
    }

    /// <summary>
    /// Accepts either a <c>postgresql://</c> URL or an Npgsql connection string (<c>Host=…;Username=…</c>) and
    /// returns an Npgsql connection string.
    /// </summary>
    /// <param name="value">The URL or connection string.</param>
    /// <returns>An Npgsql connection string.</returns>
    /// <exception cref="FormatException">The value is neither; the message never contains the password.</exception>
    public static string Normalize(string value)
    {
        ArgumentNullException.ThrowIfNull(value);

        var trimmed = value.Trim();
        if (trimmed.Length == 0)
        {
            throw new FormatException("The PostgreSQL connection string is empty.");
        }

        if (StartsWithScheme(trimmed))
        {
            return FromUrl(trimmed);
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(trimmed);
        }
        catch (Exception exception) when (exception is ArgumentException or FormatException or InvalidCastException)
        {
            // The parser's own message may quote part of the string, which can be the password: it is not passed on.
            throw new FormatException(
                "The value is neither a postgresql:// URL nor a valid Npgsql connection string "
                + "(Host=…;Username=…;Password=…;Database=…): check the keywords and the values, and quote a "
                + "value that contains ';' or '='.");
        }

        if (string.IsNullOrEmpty(builder.Host))
        {
            throw new FormatException("The PostgreSQL connection string names no host: add Host=….");
        }

        return builder.ConnectionString;
    }

    // Only a leading scheme makes a URL: a keyword string may hold "://" inside a value such as the password.
    private static bool StartsWithScheme(string value)
    {
        var separator = value.IndexOf("://", StringComparison.Ordinal);
        return separator > 0
            && char.IsAsciiLetter(value[0])
            && value.AsSpan(0, separator).ContainsAnyExcept(_schemeCharacters) is false;
    }

    private static string StripScheme(string url)
    {
        var separator = url.IndexOf("://", StringComparison.Ordinal);
        var scheme = separator >= 0 ? url[..separator] : "";
        if (!scheme.Equals("postgresql", StringComparison.OrdinalIgnoreCase)
            && !scheme.Equals("postgres", StringComparison.OrdinalIgnoreCase))
        {
            // The scheme is not quoted: in a mangled URL it could be part of the password.
            throw new FormatException(
                "The URL scheme is not supported: a PostgreSQL URL starts with postgresql:// or postgres://.");
        }

        var rest = url[(separator + 3)..];
        var fragment = rest.IndexOf('#');
        if (fragment >= 0)
        {
            throw new FormatException(
                "The URL contains '#'; a '#' in the password or elsewhere must be percent-encoded as %23.");
        }

        return rest;
    }

    private static void ReadUserInfo(string userInfo, NpgsqlConnectionStringBuilder builder)
    {
        var colon = userInfo.IndexOf(':');
        var user = colon >= 0 ? userInfo[..colon] : userInfo;
        if (user.Length > 0)
        {
            builder.Username = Decode(user, "user name");
        }

        if (colon >= 0)
        {
            builder.Password = Decode(userInfo[(colon + 1)..], "password");
        }
    }

    private static void ReadHostAndPort(string hostAndPort, NpgsqlConnectionStringBuilder builder)
    {
        if (hostAndPort.Contains(','))
        {
            throw new FormatException(
                "The URL names several hosts, which a URL cannot carry here; use an Npgsql connection string "
                + "(Host=host1,host2;…) instead.");
        }

        string host;
        string port;
        if (hostAndPort.StartsWith('['))
        {
            var close = hostAndPort.IndexOf(']');
            if (close < 0)
            {
                throw new FormatException("The URL's IPv6 host has no closing ']'.");
            }

            host = hostAndPort[1..close];
            var after = hostAndPort[(close + 1)..];
            if (after.Length > 0 && !after.StartsWith(':'))
            {
                throw new FormatException("The URL's IPv6 host must be followed by ':port', '/' or nothing.");
            }

            port = after.Length > 0 ? after[1..] : "";
        }
        else
        {
            var colon = hostAndPort.IndexOf(':');
            host = colon >= 0 ? hostAndPort[..colon] : hostAndPort;
            port = colon >= 0 ? hostAndPort[(colon + 1)..] : "";
            if (port.Contains(':'))
            {
                throw new FormatException(
                    "The URL's host contains more than one ':'; write an IPv6 address in brackets, [::1], and "
                    + "percent-encode a ':' in the password as %3A.");
            }
        }

        if (host.Length > 0)
        {
            builder.Host = Decode(host, "host");
        }

        if (port.Length > 0)
        {
            builder.Port = ParsePort(port);
        }
        else if (hostAndPort.EndsWith(':'))
        {
            throw new FormatException("The URL has a ':' after the host but no port.");
        }
    }

    private static int ParsePort(string text)
    {
        // The port is echoed only when it is short and plain, so that a misplaced password is never shown.
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, null, out var port) || port is < 1 or > 65535)
        {
            var shown = text.Length <= 6 && text.All(char.IsAsciiDigit) ? $" '{text}'" : "";
            throw new FormatException(
                $"The URL's port{shown} is not a number from 1 to 65535; if the password contains '@', '/' or ':', "
                + "percent-encode them (%40, %2F, %3A).");
        }

        return port;
    }

    private static void ReadParameters(string query, NpgsqlConnectionStringBuilder builder)
    {
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                throw new FormatException("A URL parameter must have the form name=value.");
            }

            var name = Decode(pair[..equals], "parameter name");
            var value = Decode(pair[(equals + 1)..], $"value of parameter '{name}'");
            SetParameter(builder, name, value);
        }
    }

    private static void SetParameter(NpgsqlConnectionStringBuilder builder, string name, string value)
    {
        if (name.Equals("sslmode", StringComparison.OrdinalIgnoreCase))
        {
            if (!_sslModes.TryGetValue(value, out var mode))
            {
                throw new FormatException(
                    $"The URL parameter sslmode='{value}' is not one of disable, allow, prefer, require, verify-ca, "
                    + "verify-full.");
            }

            builder.SslMode = Enum.Parse<SslMode>(mode);
            return;
        }

        if (name.Equals("port", StringComparison.OrdinalIgnoreCase))
        {
            builder.Port = ParsePort(value);
            return;
        }

        var keyword = _libpqParameters.TryGetValue(name, out var mapped) ? mapped : name.Replace('_', ' ');
        var isSecret = keyword.Contains("password", StringComparison.OrdinalIgnoreCase);
        try
        {
            builder[keyword] = value;
        }
        catch (Exception exception) when (exception is ArgumentException or FormatException or InvalidCastException
            or OverflowException)
        {
            var shown = isSecret ? "" : $" '{value}'";
            throw new FormatException(
                $"The URL parameter '{name}' is unknown or its value{shown} is invalid; use a libpq parameter name "
                + "(sslmode, connect_timeout, application_name …) or an Npgsql keyword with '_' for spaces.");
        }
    }

    private static string Decode(string text, string part)
    {
        // Decoded by hand: Uri.UnescapeDataString silently keeps a broken escape, and a mistyped password should
        // fail here, with a message, rather than at the server.
        var decoded = new StringBuilder(text.Length);
        var escaped = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '%')
            {
                if (i + 2 >= text.Length || !IsHex(text[i + 1]) || !IsHex(text[i + 2]))
                {
                    throw new FormatException(
                        $"The {part} in the URL contains a '%' that does not start a percent-escape; write a literal "
                        + "'%' as %25.");
                }

                escaped.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
                continue;
            }

            AppendEscaped(decoded, escaped, part);
            decoded.Append(text[i]);
        }

        AppendEscaped(decoded, escaped, part);
        return decoded.ToString();
    }

    private static void AppendEscaped(StringBuilder decoded, List<byte> escaped, string part)
    {
        if (escaped.Count == 0)
        {
            return;
        }

        try
        {
            decoded.Append(_strictUtf8.GetString([.. escaped]));
            escaped.Clear();
        }
        catch (DecoderFallbackException)
        {
            throw new FormatException($"The {part} in the URL has percent-escapes that are not UTF-8.");
        }
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);
}
