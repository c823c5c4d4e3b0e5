using System.CommandLine;
using System.Globalization;
using LZN.Native.Distributed;
using LZN.Native.Verification;

namespace LZN.Cli.Commands;

/// <summary>
/// `lzn selftest`: the verification tables (every kernel family against float64) on one backend, as a table; under
/// `mpirun -n R` (R > 1) instead the distributed checks, every rank together (<see cref="DistributedChecks"/>).
/// </summary>
internal static class SelfTestCommand
{
    public static Command Create()
    {
        var device = CommonOptions.Device();
        var seed = new Option<int?>("--seed") { Description = "input seed (default: a fresh one, printed)" };
        var json = new Option<FileInfo?>("--json") { Description = "also write the rows as JSON to this file" };
        var command = new Command("selftest", "Run the verification tables (every kernel family against float64) on the chosen backend, on fresh random inputs.")
        {
            device, seed, json,
        };
        command.SetAction(result => DistributedRun.Run(collective =>
        {
            using var backend = CommonOptions.CreateBackend(DistributedRun.DeviceOfRank(result.GetValue(device), collective));
            if (collective.WorldSize > 1)
                return RunDistributed(backend, collective);
            int inputSeed = result.GetValue(seed) ?? Random.Shared.Next();
            Console.WriteLine($"backend: {backend.Description}");
            Console.WriteLine($"seed:    {inputSeed}");
            var rows = VerificationTables.Run(backend, inputSeed);
            Print(rows);
            if (result.GetValue(json) is { } file)
                WriteJson(file.FullName, backend.Description, inputSeed, rows);
            int failed = rows.Count(row => !row.Passed);
            Console.WriteLine($"selftest: {rows.Count - failed} passed, {failed} failed");
            return failed == 0 ? 0 : 1;
        }));
        return command;
    }

    private static int RunDistributed(LZN.Native.Backends.IBackend backend, ICollective collective)
    {
        Console.WriteLine($"backend: {backend.Description}; {collective.Description}");
        var rows = DistributedChecks.Run(backend, collective);
        int nameWidth = rows.Max(row => row.Name.Length), sizeWidth = rows.Max(row => row.Size.Length);
        Console.WriteLine($"{"check".PadRight(nameWidth)}  {"size".PadRight(sizeWidth)}  {"error",9}  {"bound",7}  result");
        foreach (var row in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{row.Name.PadRight(nameWidth)}  {row.Size.PadRight(sizeWidth)}  {row.Error,9:0.00e+00}  {row.Bound,7:0.#e+00}  {(row.Passed ? "pass" : "FAIL")}"));
        }
        int failed = rows.Count(row => !row.Passed);
        Console.WriteLine($"selftest (distributed): {rows.Count - failed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    // One row per case: the error and bound of its worst check; each failure's first bad element follows the table.
    private static void Print(IReadOnlyList<VerificationResult> rows)
    {
        int opWidth = Math.Max(2, rows.Max(row => row.Case.Op.Length));
        int sizeWidth = Math.Max(4, rows.Max(row => row.Case.Size.Length));
        Console.WriteLine($"{"op".PadRight(opWidth)}  {"size".PadRight(sizeWidth)}  {"max rel err",11}  {"bound",8}  result");
        foreach (var row in rows)
        {
            string error = row.Error.ToString("0.00e+00", CultureInfo.InvariantCulture);
            string bound = row.Bound.ToString("0.#e+00", CultureInfo.InvariantCulture);
            Console.WriteLine($"{row.Case.Op.PadRight(opWidth)}  {row.Case.Size.PadRight(sizeWidth)}  {error,11}  {bound,8}  {(row.Passed ? "pass" : "FAIL")}");
        }
        foreach (var row in rows.Where(row => !row.Passed))
            Console.WriteLine($"FAIL {row.Case.Name}: {row.Failure}");
    }

    private static void WriteJson(string path, string backend, int seed, IReadOnlyList<VerificationResult> rows) =>
        JsonFile.Write(path, writer =>
        {
            writer.WriteString("backend", backend);
            writer.WriteNumber("seed", seed);
            writer.WriteStartArray("rows");
            foreach (var row in rows)
            {
                writer.WriteStartObject();
                writer.WriteString("family", row.Case.Family);
                writer.WriteString("op", row.Case.Op);
                writer.WriteString("size", row.Case.Size);
                JsonFile.WriteNumberOrNull(writer, "max_relative_error", row.Error);
                writer.WriteNumber("tolerance", row.Bound);
                writer.WriteBoolean("passed", row.Passed);
                if (row.Failure is not null)
                    writer.WriteString("failure", row.Failure);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        });
}
