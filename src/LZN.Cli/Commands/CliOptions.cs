using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace LZN.Cli.Commands;

/// <summary>
/// Options whose values are parsed here rather than by System.CommandLine's converters, so a bad value is reported in
/// the user's terms ("--steps abc: expected a whole number from 1 to 10000") instead of a .NET type name, and the
/// range is checked while parsing: every such error is a parse error, reported as one line with exit code 2.
/// </summary>
internal static class CliOptions
{
    private delegate bool TryParse<T>(string text, out T value);

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>]; null when absent.</summary>
    public static Option<int?> Int(string name, string description, int min = int.MinValue, int max = int.MaxValue) =>
        Optional<int>(name, description, WholeNumber(min, max), ParseInt, value => value >= min && value <= max);

    public static Option<int> Int(string name, string description, int defaultValue, int min = int.MinValue, int max = int.MaxValue) =>
        Required(name, description, defaultValue, WholeNumber(min, max), ParseInt, value => value >= min && value <= max);

    public static Option<long?> Long(string name, string description, long min = long.MinValue, long max = long.MaxValue) =>
        Optional<long>(name, description, WholeNumber(min, max),
            (string text, out long value) => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value),
            value => value >= min && value <= max);

    public static Option<ulong?> UInt64(string name, string description) =>
        Optional<ulong>(name, description, "a whole number from 0 to 18446744073709551615",
            (string text, out ulong value) => ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value), _ => true);

    public static Option<ulong> UInt64(string name, string description, ulong defaultValue) =>
        Required(name, description, defaultValue, "a whole number from 0 to 18446744073709551615",
            (string text, out ulong value) => ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value), _ => true);

    /// <summary>A finite number at least <paramref name="min"/> (above it when <paramref name="exclusive"/>); null when absent.</summary>
    public static Option<double?> Number(string name, string description, double min = double.MinValue, bool exclusive = false) =>
        Optional<double>(name, description, FiniteNumber(min, exclusive), ParseDouble, value => exclusive ? value > min : value >= min);

    public static Option<float?> Single(string name, string description, double min = double.MinValue, bool exclusive = false) =>
        Optional<float>(name, description, FiniteNumber(min, exclusive), ParseSingle, value => exclusive ? value > min : value >= min);

    public static Option<float> Single(string name, string description, float defaultValue, double min = double.MinValue, bool exclusive = false) =>
        Required(name, description, defaultValue, FiniteNumber(min, exclusive), ParseSingle, value => exclusive ? value > min : value >= min);

    /// <summary>One of <paramref name="choices"/> (as typed; case matters); null when absent.</summary>
    public static Option<string?> Choice(string name, string description, params string[] choices)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result => CheckChoice(result, choices));
        return option;
    }

    public static Option<string> ChoiceOrDefault(string name, string description, string defaultValue, params string[] choices)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result => CheckChoice(result, choices));
        return option;
    }

    /// <summary>"--out x.jpg" is refused unless the file name ends in one of <paramref name="extensions"/>.</summary>
    public static void RequireExtension(Option option, string what, params string[] extensions)
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 1 && !extensions.Any(extension => result.Tokens[0].Value.EndsWith(extension, StringComparison.OrdinalIgnoreCase)))
                result.AddError($"{option.Name} {result.Tokens[0].Value}: {what}; give a file name ending in {string.Join(" or ", extensions)}.");
        });
    }

    private static void CheckChoice(OptionResult result, string[] choices)
    {
        if (result.Tokens.Count == 1 && !choices.Contains(result.Tokens[0].Value, StringComparer.Ordinal))
            result.AddError($"{result.Option.Name} {result.Tokens[0].Value}: expected {Alternatives(choices)}.");
    }

    private static string Alternatives(string[] choices) =>
        choices.Length == 1 ? choices[0] : $"{string.Join(", ", choices[..^1])} or {choices[^1]}";

    private static Option<T?> Optional<T>(string name, string description, string expected, TryParse<T> parse, Func<T, bool> allowed)
        where T : struct => new(name)
        {
            Description = description,
            CustomParser = result => Parse(result, name, expected, parse, allowed),
        };

    private static Option<T> Required<T>(string name, string description, T defaultValue, string expected, TryParse<T> parse, Func<T, bool> allowed)
        where T : struct => new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result => Parse(result, name, expected, parse, allowed) ?? defaultValue,
        };

    private static T? Parse<T>(ArgumentResult result, string name, string expected, TryParse<T> parse, Func<T, bool> allowed)
        where T : struct
    {
        if (result.Tokens.Count == 0)
            return null;
        string text = result.Tokens[^1].Value;
        if (parse(text, out T value) && allowed(value))
            return value;
        result.AddError($"{name} {text}: expected {expected}.");
        return null;
    }

    private static string WholeNumber(long min, long max) =>
        (min, max) switch
        {
            (int.MinValue or long.MinValue, int.MaxValue or long.MaxValue) => "a whole number",
            (_, int.MaxValue or long.MaxValue) => string.Create(CultureInfo.InvariantCulture, $"a whole number >= {min}"),
            _ => string.Create(CultureInfo.InvariantCulture, $"a whole number from {min} to {max}"),
        };

    private static string FiniteNumber(double min, bool exclusive) =>
        min == double.MinValue ? "a finite number"
        : string.Create(CultureInfo.InvariantCulture, $"a finite number {(exclusive ? ">" : ">=")} {min}");

    private static bool ParseInt(string text, out int value) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    private static bool ParseDouble(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    private static bool ParseSingle(string text, out float value) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && float.IsFinite(value);
}
