using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace LZN.Tests.Fuzz;

/// <summary>
/// Mutated .npy inputs of `lzn zones encode` (the file is both anchors and prior) and `lzn zones assign` (both latents
/// and anchors). A valid input is a 2-D, non-empty, little-endian float32/float64 C-order array of finite values at most
/// 1e15 in magnitude, in any header version and any spelling numpy's dict literal allows.
/// </summary>
internal static class NpyFuzz
{
    private const float MaxMagnitude = 1e15f;

    private static readonly string[] Mutations =
    [
        "valid", "valid", "transposed", "payload-flip", "payload-flip", "special-value", "truncate", "append", "header-length", "magic",
        "version", "descr", "fortran", "duplicate-key", "unknown-key", "missing-key", "shape-changed", "rank", "header-garbage", "empty-array",
        "empty-file", "huge-shape", "huge-header-length",
    ];

    private sealed class Spec
    {
        public int Rows;
        public int Columns;
        public bool Float64;
        public int Major;
        public char Quote;
        public bool TrailingComma;
        public bool LongSuffix;
        public List<(string Key, string Value)> Entries = [];
        public double[] Values = [];
        public string? Trailing;
        public long? DeclaredHeaderLength;
        public byte[]? Payload;
    }

    public static FuzzCase Generate(int index, Random random)
    {
        var spec = new Spec
        {
            Rows = random.Next(2, 25),
            Columns = random.Next(1, 13),
            Float64 = random.Next(2) == 0,
            Major = new[] { 1, 1, 2, 3 }[random.Next(4)],
            Quote = random.Next(3) == 0 ? '"' : '\'',
            TrailingComma = random.Next(2) == 0,
            LongSuffix = random.Next(8) == 0,
        };
        spec.Values = [.. Enumerable.Range(0, spec.Rows * spec.Columns).Select(_ => random.NextDouble() * 6 - 3)];
        spec.Entries =
        [
            ("descr", Quoted(spec, spec.Float64 ? "<f8" : "<f4")),
            ("fortran_order", "False"),
            ("shape", ShapeText(spec, [spec.Rows, spec.Columns])),
        ];
        Shuffle(spec.Entries, random);
        string mutation = Mutations[random.Next(Mutations.Length)];
        var expected = Expectation.Rejected;
        byte[] bytes;
        switch (mutation)
        {
            case "valid":
                expected = Expectation.Valid;
                bytes = Build(spec);
                break;
            case "transposed":
                // Same element count, the other way round: still a 2-D array, so still valid.
                SetEntry(spec, "shape", ShapeText(spec, [spec.Columns, spec.Rows]));
                expected = Expectation.Valid;
                bytes = Build(spec);
                break;
            case "payload-flip":
                bytes = Build(spec);
                expected = FlipPayloadBit(spec, bytes, random) ? Expectation.Valid : Expectation.Rejected;
                break;
            case "special-value":
                double[] rejected = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1e20, -2e15, 1e16, 1e300];
                double[] accepted = [1e14, -1e14, 0, 1e-30, -3];
                bool good = random.Next(3) == 0;
                double value = good ? accepted[random.Next(accepted.Length)] : rejected[random.Next(rejected.Length)];
                // 1e300 only exists in float64; as float32 it would already be infinite, which is rejected too.
                spec.Values[random.Next(spec.Values.Length)] = value;
                expected = good ? Expectation.Valid : Expectation.Rejected;
                bytes = Build(spec);
                break;
            case "truncate":
                bytes = Build(spec);
                bytes = bytes[..random.Next(0, bytes.Length)];
                break;
            case "append":
                bytes = [.. Build(spec), .. RandomBytes(random, random.Next(1, 17))];
                break;
            case "header-length":
                bytes = Build(spec);
                long actual = HeaderLength(spec);
                long declared;
                do
                {
                    declared = Math.Max(0, actual + random.Next(-40, 41));
                }
                while (declared == actual);
                spec.DeclaredHeaderLength = declared;
                bytes = Build(spec);
                break;
            case "huge-header-length":
                spec.DeclaredHeaderLength = new[] { 0x80000000L, 0xFFFFFFFFL, 10_001, 65535 }[random.Next(4)];
                if (spec.Major == 1 && spec.DeclaredHeaderLength > ushort.MaxValue)
                    spec.Major = 2;
                bytes = Build(spec);
                break;
            case "magic":
                bytes = Build(spec);
                int position = random.Next(6);
                bytes[position] ^= (byte)random.Next(1, 256);
                break;
            case "version":
                bytes = Build(spec);
                bytes[6] = new byte[] { 0, 4, 5, 255 }[random.Next(4)];
                break;
            case "descr":
                string[] others = [">f4", ">f8", "<i4", "<i8", "|u1", "<f2", "<c8", "|b1", "O", "<U3", "f4", "float32", "<f16", ""];
                SetEntry(spec, "descr", Quoted(spec, others[random.Next(others.Length)]));
                bytes = Build(spec);
                break;
            case "fortran":
                SetEntry(spec, "fortran_order", "True");
                bytes = Build(spec);
                break;
            case "duplicate-key":
                var copy = spec.Entries[random.Next(spec.Entries.Count)];
                spec.Entries.Insert(random.Next(spec.Entries.Count + 1), copy);
                bytes = Build(spec);
                break;
            case "unknown-key":
                spec.Entries.Insert(random.Next(spec.Entries.Count + 1), (new[] { "extra", "Descr", "shape ", "version" }[random.Next(4)], "1"));
                bytes = Build(spec);
                break;
            case "missing-key":
                spec.Entries.RemoveAt(random.Next(spec.Entries.Count));
                bytes = Build(spec);
                break;
            case "shape-changed":
                int rows = spec.Rows, columns = spec.Columns;
                while (rows * columns == spec.Rows * spec.Columns)
                    (rows, columns) = (random.Next(0, 30), random.Next(0, 14));
                SetEntry(spec, "shape", ShapeText(spec, [rows, columns]));
                bytes = Build(spec);
                break;
            case "rank":
                // The same elements as 1-D or 3-D: a valid .npy, but the zone commands need [rows, dim].
                int[] shape = random.Next(2) == 0 ? [spec.Rows * spec.Columns] : [spec.Rows, spec.Columns, 1];
                SetEntry(spec, "shape", ShapeText(spec, shape));
                bytes = Build(spec);
                break;
            case "header-garbage":
                // One character that breaks the literal wherever it lands: structure, a key, the dtype or the padding.
                spec.Trailing = null;
                string header = HeaderText(spec);
                int at = random.Next(1, header.Length);
                char garbage = "{}():'\"#@\\=;"[random.Next(12)];
                bytes = BuildWithHeader(spec, header.Insert(at, garbage.ToString()));
                break;
            case "empty-array":
                SetEntry(spec, "shape", ShapeText(spec, random.Next(2) == 0 ? [0, spec.Columns] : [spec.Rows, 0]));
                spec.Payload = [];
                bytes = Build(spec);
                break;
            case "empty-file":
                bytes = random.Next(2) == 0 ? [] : [0x93, .. "NUMPY"u8.ToArray()];
                break;
            case "huge-shape":
                string[] huge = ["(2000000000, 2000000000, 2000000000)", "(3000000000, 2)", "(65536, 65536)", "(99999999999999999999, 1)", "(-1, 4)"];
                SetEntry(spec, "shape", huge[random.Next(huge.Length)]);
                bytes = Build(spec);
                break;
            default:
                throw new InvalidOperationException(mutation);
        }
        bool encode = random.Next(2) == 0;
        string[] arguments = encode
            ? ["zones", "encode", "--anchors", "{case}/x.npy", "--prior", "{case}/x.npy", "--device", "cpu", "--out", "{case}/out.npy"]
            : ["zones", "assign", "--latents", "{case}/x.npy", "--anchors", "{case}/x.npy", "--device", "cpu", "--out", "{case}/out.npy"];
        return new FuzzCase(index, encode ? "npy (zones encode)" : "npy (zones assign)", mutation, expected,
            new Dictionary<string, byte[]> { ["x.npy"] = bytes }, arguments);
    }

    /// <summary>Flips one payload bit; true when the element is still finite and within the bound (as float32).</summary>
    private static bool FlipPayloadBit(Spec spec, byte[] bytes, Random random)
    {
        int size = spec.Float64 ? 8 : 4;
        int element = random.Next(spec.Values.Length), bit = random.Next(size * 8);
        int offset = bytes.Length - spec.Values.Length * size + element * size;
        bytes[offset + bit / 8] ^= (byte)(1 << (bit % 8));
        float value = spec.Float64
            ? (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(offset))
            : BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(offset));
        return float.IsFinite(value) && Math.Abs(value) <= MaxMagnitude;
    }

    private static void SetEntry(Spec spec, string key, string value)
    {
        int index = spec.Entries.FindIndex(entry => entry.Key == key);
        spec.Entries[index] = (key, value);
    }

    private static string Quoted(Spec spec, string text) => $"{spec.Quote}{text}{spec.Quote}";

    private static string ShapeText(Spec spec, int[] shape)
    {
        string suffix = spec.LongSuffix ? "L" : "";
        var parts = shape.Select(d => d.ToString(CultureInfo.InvariantCulture) + suffix).ToList();
        return parts.Count == 1 ? $"({parts[0]},)" : $"({string.Join(", ", parts)})";
    }

    private static string HeaderText(Spec spec)
    {
        string body = string.Join(", ", spec.Entries.Select(entry => $"{Quoted(spec, entry.Key)}: {entry.Value}"));
        string dictionary = "{" + body + (spec.TrailingComma && spec.Entries.Count > 0 ? ", " : "") + "}";
        int prefix = spec.Major == 1 ? 10 : 12;
        int padding = (64 - (prefix + dictionary.Length + 1) % 64) % 64;
        return dictionary + new string(' ', padding) + "\n";
    }

    private static long HeaderLength(Spec spec) => Encoding.Latin1.GetByteCount(HeaderText(spec));

    private static byte[] Build(Spec spec) => BuildWithHeader(spec, HeaderText(spec));

    private static byte[] BuildWithHeader(Spec spec, string header)
    {
        byte[] headerBytes = Encoding.Latin1.GetBytes(header);
        long declared = spec.DeclaredHeaderLength ?? headerBytes.Length;
        var bytes = new List<byte>([0x93, .. "NUMPY"u8.ToArray(), (byte)spec.Major, 0]);
        if (spec.Major == 1)
            bytes.AddRange(BitConverter.GetBytes((ushort)declared));
        else
            bytes.AddRange(BitConverter.GetBytes((uint)declared));
        bytes.AddRange(headerBytes);
        bytes.AddRange(spec.Payload ?? Payload(spec));
        return [.. bytes];
    }

    private static byte[] Payload(Spec spec)
    {
        int size = spec.Float64 ? 8 : 4;
        var payload = new byte[spec.Values.Length * size];
        for (int i = 0; i < spec.Values.Length; i++)
        {
            if (spec.Float64)
                BinaryPrimitives.WriteDoubleLittleEndian(payload.AsSpan(i * 8), spec.Values[i]);
            else
                BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(i * 4), (float)spec.Values[i]);
        }
        return payload;
    }

    internal static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    internal static void Shuffle<T>(IList<T> list, Random random)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
