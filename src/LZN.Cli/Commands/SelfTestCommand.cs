using System.CommandLine;
using System.Globalization;
using LZN.Native.Diagnostics;

namespace LZN.Cli.Commands;

/// <summary>`lzn selftest`: every kernel of a backend against its float64 reference, as a table.</summary>
internal static class SelfTestCommand
{
    public static Command Create()
    {
        var device = CommonOptions.Device();
        var seed = new Option<int?>("--seed") { Description = "input seed (default: a fresh one, printed)" };
        var json = new Option<FileInfo?>("--json") { Description = "also write the rows as JSON to this file" };
        var command = new Command("selftest", "Run every kernel of the chosen backend against a float64 reference on fresh random inputs.")
        {
            device, seed, json,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            int inputSeed = result.GetValue(seed) ?? Random.Shared.Next();
            Console.WriteLine($"backend: {backend.Description}");
            Console.WriteLine($"seed:    {inputSeed}");
            var rows = SelfTest.Run(backend, inputSeed);
            Print(rows);
            if (result.GetValue(json) is { } file)
                WriteJson(file.FullName, backend.Description, inputSeed, rows);
            int failed = rows.Count(row => !row.Passed);
            Console.WriteLine($"selftest: {rows.Count - failed} passed, {failed} failed");
            return failed == 0 ? 0 : 1;
        }));
        return command;
    }

    private static void Print(IReadOnlyList<SelfTestRow> rows)
    {
        int opWidth = Math.Max(2, rows.Max(row => row.Op.Length));
        int sizeWidth = Math.Max(4, rows.Max(row => row.Size.Length));
        Console.WriteLine($"{"op".PadRight(opWidth)}  {"size".PadRight(sizeWidth)}  {"max rel err",11}  {"bound",8}  result");
        foreach (var row in rows)
        {
            string error = row.MaxRelativeError.ToString("0.00e+00", CultureInfo.InvariantCulture);
            string bound = row.Tolerance.ToString("0e+00", CultureInfo.InvariantCulture);
            Console.WriteLine($"{row.Op.PadRight(opWidth)}  {row.Size.PadRight(sizeWidth)}  {error,11}  {bound,8}  {(row.Passed ? "pass" : "FAIL")}");
        }
    }

    private static void WriteJson(string path, string backend, int seed, IReadOnlyList<SelfTestRow> rows) =>
        JsonFile.Write(path, writer =>
        {
            writer.WriteString("backend", backend);
            writer.WriteNumber("seed", seed);
            writer.WriteStartArray("rows");
            foreach (var row in rows)
            {
                writer.WriteStartObject();
                writer.WriteString("op", row.Op);
                writer.WriteString("size", row.Size);
                JsonFile.WriteNumberOrNull(writer, "max_relative_error", row.MaxRelativeError);
                writer.WriteNumber("tolerance", row.Tolerance);
                writer.WriteBoolean("passed", row.Passed);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        });
}
