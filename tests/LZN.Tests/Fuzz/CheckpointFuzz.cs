using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LZN.Tests.Fuzz;

/// <summary>
/// Mutated checkpoints for `lzn eval --data synthetic`: the safetensors container (header length, JSON, layout, data
/// bytes, the checksum) and the training config in <c>__metadata__</c>, field by field with each field's bounds. The
/// base is a real checkpoint of the tiny preset after two steps (<see cref="FuzzBases"/>).
/// </summary>
internal static class CheckpointFuzz
{
    private static readonly string[] ContainerMutations =
    [
        "unchanged", "reformatted", "reordered-data", "no-checksum", "mantissa-flip", "mantissa-flip", "group-step-lower",
        "checksum-altered", "data-flip", "data-flip", "non-finite-weight", "counter-changed", "header-length", "truncate", "append",
        "dtype", "shape", "offsets", "rename", "duplicate-name", "unknown-field", "metadata-not-string", "metadata-missing",
        "format", "step", "not-json", "drop-rng",
    ];

    private sealed class Entry
    {
        public required string Name;
        public required string DType;
        public required int[] Shape;
        public required byte[] Data;
    }

    /// <summary>A checkpoint taken apart: metadata in order, tensors in data order.</summary>
    private sealed class Parts
    {
        public List<KeyValuePair<string, string>> Metadata = [];
        public List<Entry> Entries = [];

        public static Parts Parse(byte[] file)
        {
            int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
            var header = JsonNode.Parse(file.AsSpan(8, headerLength))!.AsObject();
            var parts = new Parts();
            var located = new List<(ulong Begin, Entry Entry)>();
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    parts.Metadata = [.. node!.AsObject().Select(pair => new KeyValuePair<string, string>(pair.Key, pair.Value!.GetValue<string>()))];
                    continue;
                }
                var offsets = node!["data_offsets"]!.AsArray();
                ulong begin = offsets[0]!.GetValue<ulong>(), end = offsets[1]!.GetValue<ulong>();
                located.Add((begin, new Entry
                {
                    Name = name,
                    DType = node["dtype"]!.GetValue<string>(),
                    Shape = [.. node["shape"]!.AsArray().Select(d => d!.GetValue<int>())],
                    Data = file.AsSpan(8 + headerLength + (int)begin, (int)(end - begin)).ToArray(),
                }));
            }
            parts.Entries = [.. located.OrderBy(pair => pair.Begin).Select(pair => pair.Entry)];
            return parts;
        }

        public string Metadatum(string key) => Metadata.First(pair => pair.Key == key).Value;

        public void SetMetadatum(string key, string value)
        {
            int index = Metadata.FindIndex(pair => pair.Key == key);
            Metadata[index] = new(key, value);
        }

        public void Rehash() => SetMetadatum("tensors_sha256", Convert.ToHexStringLower(SHA256.HashData(Entries.SelectMany(e => e.Data).ToArray())));

        public Entry this[string name] => Entries.First(entry => entry.Name == name);

        /// <summary>The file: header JSON (optionally indented, metadata last, extra padding), then the data in entry order.</summary>
        public byte[] Build(bool indented = false, bool metadataLast = false, int extraPadding = 0, Func<string, string>? editHeader = null,
            Func<long, long>? declaredLength = null, Action<List<Entry>>? shuffleHeader = null)
        {
            var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
            {
                writer.WriteStartObject();
                if (!metadataLast)
                    WriteMetadata(writer);
                long offset = 0;
                var offsets = new Dictionary<Entry, (long, long)>();
                foreach (var entry in Entries)
                {
                    offsets[entry] = (offset, offset + entry.Data.Length);
                    offset += entry.Data.Length;
                }
                var headerOrder = Entries.ToList();
                shuffleHeader?.Invoke(headerOrder);
                foreach (var entry in headerOrder)
                {
                    writer.WriteStartObject(entry.Name);
                    writer.WriteString("dtype", entry.DType);
                    writer.WriteStartArray("shape");
                    foreach (int d in entry.Shape)
                        writer.WriteNumberValue(d);
                    writer.WriteEndArray();
                    writer.WriteStartArray("data_offsets");
                    writer.WriteNumberValue(offsets[entry].Item1);
                    writer.WriteNumberValue(offsets[entry].Item2);
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }
                if (metadataLast)
                    WriteMetadata(writer);
                writer.WriteEndObject();
            }
            string json = Encoding.UTF8.GetString(stream.ToArray());
            if (editHeader is not null)
                json = editHeader(json);
            byte[] header = Encoding.UTF8.GetBytes(json + new string(' ', (8 - Encoding.UTF8.GetByteCount(json) % 8) % 8 + extraPadding));
            var file = new List<byte>();
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(declaredLength?.Invoke(header.Length) ?? header.Length));
            file.AddRange(length);
            file.AddRange(header);
            foreach (var entry in Entries)
                file.AddRange(entry.Data);
            return [.. file];
        }

        private void WriteMetadata(Utf8JsonWriter writer)
        {
            writer.WriteStartObject("__metadata__");
            foreach (var (key, value) in Metadata)
                writer.WriteString(key, value);
            writer.WriteEndObject();
        }
    }

    private static string[] Eval => ["eval", "--checkpoint", "{case}/checkpoint.safetensors", "--data", "synthetic", "--test-limit", "8", "--device", "cpu"];

    private static FuzzCase Case(int index, string family, string mutation, bool valid, byte[] bytes) =>
        new(index, family, mutation, valid ? Expectation.Valid : Expectation.Rejected, new Dictionary<string, byte[]> { ["checkpoint.safetensors"] = bytes }, Eval);

    private static bool IsCounter(string name) =>
        name is "adam/iteration" or "training/skipped_steps" or "ema/updates" || name.StartsWith("adam/step/", StringComparison.Ordinal);

    public static FuzzCase Container(int index, Random random, byte[] baseFile)
    {
        var parts = Parts.Parse(baseFile);
        string mutation = ContainerMutations[random.Next(ContainerMutations.Length)];
        const string family = "safetensors (lzn eval)";
        Entry Pick(Func<Entry, bool> where)
        {
            var candidates = parts.Entries.Where(where).ToList();
            return candidates[random.Next(candidates.Count)];
        }
        switch (mutation)
        {
            case "unchanged":
                return Case(index, family, mutation, true, parts.Build());
            case "reformatted":
                return Case(index, family, mutation, true, parts.Build(indented: random.Next(2) == 0, metadataLast: random.Next(2) == 0,
                    extraPadding: random.Next(0, 16), shuffleHeader: list => NpyFuzz.Shuffle(list, random)));
            case "reordered-data":
                NpyFuzz.Shuffle(parts.Entries, random);
                parts.Rehash();
                return Case(index, family, mutation, true, parts.Build());
            case "no-checksum":
                // A checkpoint written before checksums: it loads, with a warning.
                parts.Metadata.RemoveAll(pair => pair.Key == "tensors_sha256");
                return Case(index, family, mutation, true, parts.Build());
            case "drop-rng":
                parts.Metadata.RemoveAll(pair => pair.Key == "rng");
                return Case(index, family, mutation, true, parts.Build());
            case "mantissa-flip":
            {
                // Mantissa and sign bits keep a float finite and of the same magnitude: a different, valid model.
                var entry = Pick(e => e.DType == "F32" && e.Data.Length > 0);
                int element = random.Next(entry.Data.Length / 4);
                int bit = random.Next(24) is int b && b == 23 ? 31 : b;
                entry.Data[element * 4 + bit / 8] ^= (byte)(1 << (bit % 8));
                parts.Rehash();
                return Case(index, family, mutation, true, parts.Build());
            }
            case "group-step-lower":
            {
                var entry = Pick(e => e.Name.StartsWith("adam/step/", StringComparison.Ordinal));
                long value = BinaryPrimitives.ReadInt64LittleEndian(entry.Data);
                BinaryPrimitives.WriteInt64LittleEndian(entry.Data, random.NextInt64(0, value + 1));
                parts.Rehash();
                return Case(index, family, mutation, true, parts.Build());
            }
            case "checksum-altered":
            {
                char[] digest = parts.Metadatum("tensors_sha256").ToCharArray();
                int at = random.Next(digest.Length);
                digest[at] = digest[at] == '0' ? '1' : '0';
                parts.SetMetadatum("tensors_sha256", new string(digest));
                return Case(index, family, mutation, false, parts.Build());
            }
            case "data-flip":
            {
                var entry = Pick(e => e.Data.Length > 0);
                int bit = random.Next(entry.Data.Length * 8);
                entry.Data[bit / 8] ^= (byte)(1 << (bit % 8));
                return Case(index, family, mutation, false, parts.Build());
            }
            case "non-finite-weight":
            {
                var entry = Pick(e => e.DType == "F32" && e.Data.Length > 0);
                float value = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity }[random.Next(3)];
                BinaryPrimitives.WriteSingleLittleEndian(entry.Data.AsSpan(random.Next(entry.Data.Length / 4) * 4), value);
                parts.Rehash();
                return Case(index, family, mutation, false, parts.Build());
            }
            case "counter-changed":
            {
                var entry = Pick(e => e.Name is "adam/iteration" or "training/skipped_steps" or "ema/updates");
                long value = BinaryPrimitives.ReadInt64LittleEndian(entry.Data);
                long changed = value + new long[] { 1, -1, 1000, 99_999_999, long.MinValue - value }[random.Next(5)];
                BinaryPrimitives.WriteInt64LittleEndian(entry.Data, changed);
                parts.Rehash();
                return Case(index, family, mutation, false, parts.Build());
            }
            case "header-length":
            {
                long delta = new long[] { -1, 1, -8, 8, -100, 1000, 1L << 40 }[random.Next(7)];
                return Case(index, family, mutation, false, parts.Build(declaredLength: length => Math.Max(0, length + delta)));
            }
            case "truncate":
            {
                byte[] bytes = parts.Build();
                return Case(index, family, mutation, false, bytes[..random.Next(0, bytes.Length)]);
            }
            case "append":
                return Case(index, family, mutation, false, [.. parts.Build(), .. NpyFuzz.RandomBytes(random, random.Next(1, 33))]);
            case "dtype":
            {
                var entry = Pick(_ => true);
                string[] others = ["F32", "F64", "I32", "I64", "U8", "F16", "BF16", "f32", "", "BOOL"];
                entry.DType = others.Where(d => d != entry.DType).ElementAt(random.Next(others.Length - 1));
                return Case(index, family, mutation, false, parts.Build());
            }
            case "shape":
            {
                var entry = Pick(_ => true);
                int[] original = entry.Shape;
                entry.Shape = random.Next(3) switch
                {
                    0 => [.. original, 1],
                    1 when original.Length > 1 => [.. original.Reverse()],
                    _ => [.. original.Select((d, i) => i == 0 ? d + 1 : d)],
                };
                if (entry.Shape.SequenceEqual(original))
                    entry.Shape = [.. original, 2];
                return Case(index, family, mutation, false, parts.Build());
            }
            case "offsets":
            {
                int shift = new[] { 1, -1, 4, -4, 8 }[random.Next(5)];
                var target = Pick(e => e.Data.Length > 0);
                return Case(index, family, mutation, false, parts.Build(editHeader: json => ShiftOffsets(json, target.Name, shift)));
            }
            case "rename":
            {
                var entry = Pick(_ => true);
                entry.Name = random.Next(2) == 0 ? entry.Name + "_" : "renamed/" + entry.Name;
                return Case(index, family, mutation, false, parts.Build());
            }
            case "duplicate-name":
            {
                var entry = Pick(_ => true);
                string key = JsonSerializer.Serialize(entry.Name);
                return Case(index, family, mutation, false, parts.Build(editHeader: json =>
                {
                    // The same key again, describing the same bytes: JSON allows it, safetensors does not.
                    int at = json.IndexOf(key + ":", StringComparison.Ordinal);
                    int end = json.IndexOf('}', at) + 1;
                    return json.Insert(end, "," + json[at..end]);
                }));
            }
            case "unknown-field":
            {
                var entry = Pick(_ => true);
                string key = JsonSerializer.Serialize(entry.Name) + ":{";
                return Case(index, family, mutation, false, parts.Build(editHeader: json => json.Replace(key, key + "\"extra\":1,", StringComparison.Ordinal)));
            }
            case "metadata-not-string":
            {
                string key = parts.Metadata[random.Next(parts.Metadata.Count)].Key;
                return Case(index, family, mutation, false, parts.Build(editHeader: json =>
                {
                    int at = json.IndexOf(JsonSerializer.Serialize(key) + ":", StringComparison.Ordinal) + JsonSerializer.Serialize(key).Length + 1;
                    int end = json.IndexOf("\"", json.IndexOf("\"", at, StringComparison.Ordinal) + 1, StringComparison.Ordinal);
                    while (json[end - 1] == '\\')
                        end = json.IndexOf('"', end + 1);
                    return json[..at] + "12" + json[(end + 1)..];
                }));
            }
            case "metadata-missing":
                string[] required = ["format", "config", "step"];
                string missing = required[random.Next(required.Length)];
                parts.Metadata.RemoveAll(pair => pair.Key == missing);
                return Case(index, family, mutation, false, parts.Build());
            case "format":
                parts.SetMetadatum("format", new[] { "lzn-joint/2", "lzn-joint/0", "", "LZN-JOINT/1" }[random.Next(4)]);
                return Case(index, family, mutation, false, parts.Build());
            case "step":
                parts.SetMetadatum("step", new[] { "-1", "abc", "2.0", "99999999", " 2", "1", "3", "" }[random.Next(8)]);
                return Case(index, family, mutation, false, parts.Build());
            case "not-json":
            {
                byte[] bytes = parts.Build();
                int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                int start = 8 + random.Next(headerLength / 2);
                for (int i = start; i < start + 16 && i < 8 + headerLength; i++)
                    bytes[i] = (byte)random.Next(128, 256);
                bytes[start] = 0xFF; // never part of UTF-8, so the header is no JSON whatever the other bytes spell

                return Case(index, family, mutation, false, bytes);
            }
            default:
                throw new InvalidOperationException(mutation);
        }
    }

    /// <summary>Shifts both data_offsets of one tensor, keeping its size: the tensors no longer tile the data.</summary>
    private static string ShiftOffsets(string json, string name, int shift)
    {
        string key = JsonSerializer.Serialize(name) + ":";
        int at = json.IndexOf(key, StringComparison.Ordinal);
        int offsets = json.IndexOf("\"data_offsets\"", at, StringComparison.Ordinal);
        int open = json.IndexOf('[', offsets), close = json.IndexOf(']', open);
        var values = json[(open + 1)..close].Split(',').Select(v => long.Parse(v.Trim(), CultureInfo.InvariantCulture)).ToArray();
        if (values[0] + shift < 0)
            shift = -shift;
        return json[..(open + 1)] + $"{values[0] + shift},{values[1] + shift}" + json[close..];
    }

    /// <summary>
    /// One config field: how to make a value the config accepts and a value it refuses, given the base value. Fields that
    /// shape the model accept only their base value: another one no longer fits the file's tensors.
    /// </summary>
    private sealed record Field(string Key, bool Optional, Func<Random, JsonNode?, JsonNode?>? Accepted, Func<Random, JsonNode?, JsonNode?> Refused);

    private static JsonNode Int(long value) => JsonValue.Create(value);

    private static JsonNode Number(double value) => JsonValue.Create(value);

    private static JsonNode Text(string value) => JsonValue.Create(value);

    private static Func<Random, JsonNode?, JsonNode?> IntIn(long min, long max) => (random, _) => Int(random.NextInt64(min, max + 1));

    private static Func<Random, JsonNode?, JsonNode?> IntOutside(long min, long max) => (random, _) => random.Next(4) switch
    {
        0 => Int(min - 1 - random.Next(3)),
        1 => Int(max + 1 + random.Next(1000)),
        2 => Text("20"),
        _ => Number(2.5),
    };

    private static Func<Random, JsonNode?, JsonNode?> NonNegative() => (random, _) => Number(random.Next(2) == 0 ? random.NextDouble() * 10 : Math.Pow(10, random.Next(-8, 30)));

    private static Func<Random, JsonNode?, JsonNode?> NegativeOrText() => (random, _) => random.Next(2) == 0 ? Number(-1e-3 - random.NextDouble()) : Text("0.1");

    /// <summary>The same value as the base's (fields that shape the model or must match the data).</summary>
    private static Func<Random, JsonNode?, JsonNode?> Same() => (_, current) => current?.DeepClone();

    private static Func<Random, JsonNode?, JsonNode?> OtherInt(params long[] values) => (random, current) =>
    {
        long value;
        do
        {
            value = values[random.Next(values.Length)];
        }
        while (current is not null && current.GetValue<long>() == value);
        return Int(value);
    };

    private static readonly Field[] ConfigFields =
    [
        new("preset", false, (r, _) => Text(new[] { "tiny", "mine", "", "x y" }[r.Next(4)]), (r, _) => r.Next(2) == 0 ? Int(3) : Text(new string('p', 65))),
        new("encoder", false, Same(), (r, _) => Text(new[] { "cnn", "rnn", "MLP" }[r.Next(3)])),
        new("hidden_sizes", false, Same(), (r, _) => r.Next(3) switch { 0 => new JsonArray(Int(32)), 1 => new JsonArray(), _ => new JsonArray(Int(64), Int(-1)) }),
        new("encoder_channels", true, (r, _) => new JsonArray(Int(8), Int(16 * r.Next(1, 5))), (r, _) => r.Next(2) == 0 ? new JsonArray(Int(12)) : new JsonArray()),
        new("encoder_depth", true, IntIn(1, 8), IntOutside(1, 8)),
        new("encoder_dropout", true, (r, _) => Number(r.NextDouble() * 0.99), (r, _) => Number(r.Next(2) == 0 ? 1.0 : -0.5)),
        new("latent_dim", false, Same(), (r, current) => OtherInt(8, 32, 100_000_000, 0, -3)(r, current)),
        new("decoder_channels", false, Same(), (r, current) => OtherInt(16, 4, 0, 1024)(r, current)),
        new("decoder_groups", false, (r, _) => Int(new[] { 1, 2, 4, 8 }[r.Next(4)]), (r, _) => Int(new[] { 3, 5, 0, 16 }[r.Next(4)])),
        new("batch_size", false, IntIn(2, 8192), IntOutside(2, 8192)),
        new("epochs", false, IntIn(1, 100_000), IntOutside(1, 100_000)),
        new("seed", false, (r, _) => Text(((ulong)r.NextInt64()).ToString(CultureInfo.InvariantCulture)), (r, _) => r.Next(2) == 0 ? Int(5) : Text("-5")),
        new("encoder_lr", false, NonNegative(), NegativeOrText()),
        new("decoder_lr", false, NonNegative(), NegativeOrText()),
        new("label_lr", false, NonNegative(), NegativeOrText()),
        new("weight_decay", false, NonNegative(), NegativeOrText()),
        new("warmup_steps", false, IntIn(0, 1_000_000_000), IntOutside(0, 1_000_000_000)),
        new("clip_norm", false, (r, _) => Number(0.01 + r.NextDouble() * 10), (r, _) => Number(r.Next(2) == 0 ? 0 : -1)),
        new("ema_decay", false, (r, _) => Number(r.NextDouble()), (r, _) => Number(r.Next(2) == 0 ? 1.5 : -0.1)),
        new("lr_decay", true, (r, _) => Text(r.Next(2) == 0 ? "constant" : "cosine"), (r, _) => Text(new[] { "linear", "Cosine", "" }[r.Next(3)])),
        new("label_loss", true, (r, _) => Text(new[] { "prob", "ce", "ce-cutoff" }[r.Next(3)]), (r, _) => Text(new[] { "hinge", "CE", "" }[r.Next(3)])),
        new("rf_weight", true, NonNegative(), NegativeOrText()),
        new("label_weight", true, NonNegative(), NegativeOrText()),
        new("augment_flip", true, (r, _) => JsonValue.Create(r.Next(2) == 0), (r, _) => r.Next(2) == 0 ? Text("true") : Int(1)),
        new("augment_shift", true, IntIn(0, 27), IntOutside(0, 27)),
        new("latent_steps", false, IntIn(1, 200), IntOutside(1, 10_000)),
        new("latent_noise_scale", false, (r, _) => Number(r.NextDouble() * 3), NegativeOrText()),
        new("decoder_latent_noise_scale", true, (r, _) => r.Next(2) == 0 ? null : Number(r.NextDouble() * 3), NegativeOrText()),
        new("label_steps", false, IntIn(1, 200), IntOutside(1, 10_000)),
        new("sample_steps", false, IntIn(1, 10_000), IntOutside(1, 10_000)),
        new("eval_batch", false, IntIn(2, 16_384), IntOutside(2, 16_384)),
        new("log_every", false, IntIn(1, int.MaxValue), (r, _) => r.Next(2) == 0 ? Int(0) : Text("5")),
        new("checkpoint_every", false, IntIn(0, int.MaxValue), (r, _) => r.Next(2) == 0 ? Int(-1) : Int(1L << 40)),
        new("data", false, (r, _) => Text(new[] { "synthetic", "fashion-mnist", "/somewhere/else" }[r.Next(3)]), (r, _) => r.Next(2) == 0 ? Text("") : Int(1)),
        new("train_limit", false, IntIn(0, int.MaxValue), (r, _) => Int(-1)),
        new("image_channels", false, Same(), (r, current) => OtherInt(3, 0, 5)(r, current)),
        new("image_height", false, Same(), (r, current) => OtherInt(14, 0, 2000)(r, current)),
        new("image_width", false, Same(), (r, current) => OtherInt(27, 0, 5000)(r, current)),
        new("class_count", false, Same(), (r, current) => OtherInt(9, 11, 0, 100_000)(r, current)),
    ];

    /// <summary>The config in __metadata__: one field set to a value it accepts or refuses, removed, or the JSON itself broken.</summary>
    public static FuzzCase Config(int index, Random random, byte[] baseFile)
    {
        var parts = Parts.Parse(baseFile);
        const string family = "config in __metadata__ (lzn eval)";
        var config = JsonNode.Parse(parts.Metadatum("config"))!.AsObject();
        int kind = random.Next(10);
        if (kind == 0)
        {
            // The config itself broken: not JSON, not an object, a key twice.
            string text = parts.Metadatum("config");
            string broken = random.Next(4) switch
            {
                0 => text[..random.Next(text.Length)],
                1 => "[" + text + "]",
                2 => text.Insert(1, "\"latent_steps\": 20, "),
                _ => text.Replace(":", "=", StringComparison.Ordinal),
            };
            parts.SetMetadatum("config", broken);
            return Case(index, family, "config-json", false, parts.Build());
        }
        var field = ConfigFields[random.Next(ConfigFields.Length)];
        var current = config[field.Key];
        string mutation;
        bool valid;
        if (kind == 1)
        {
            config.Remove(field.Key);
            mutation = $"{field.Key}: removed";
            valid = field.Optional;
        }
        else if (kind <= 5 && field.Accepted is not null)
        {
            config[field.Key] = field.Accepted(random, current);
            mutation = $"{field.Key}: accepted value";
            valid = true;
        }
        else
        {
            config[field.Key] = field.Refused(random, current);
            mutation = $"{field.Key}: refused value";
            valid = false;
        }
        // Both loss weights at 0 would train nothing: refused whatever the field.
        if (valid && config["rf_weight"] is JsonValue rf && config["label_weight"] is JsonValue label
            && rf.GetValue<double>() == 0 && label.GetValue<double>() == 0)
        {
            valid = false;
        }
        parts.SetMetadatum("config", config.ToJsonString());
        return Case(index, family, mutation, valid, parts.Build());
    }
}
