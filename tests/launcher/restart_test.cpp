// restart_test.cpp -- crmpirun --restart's option merge (restart.cpp):
// the options given now win over the saved ones, option by option, and a
// placement given now (--host, --hostfile and their aliases) replaces every
// saved placement.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "job.h"

using V = std::vector<std::string>;

TEST(MergeOptions, GivenOptionReplacesTheSavedOne) {
  EXPECT_EQ(crmpirun::merge_options({"-np", "4", "--oversubscribe"}, {"-n", "2"}),
            (V{"--oversubscribe", "-n", "2"}));
  EXPECT_EQ(crmpirun::merge_options({"--mca", "btl", "self,vader", "--mca", "pml", "ob1"},
                                    {"--mca", "btl", "tcp,self"}),
            (V{"--mca", "pml", "ob1", "--mca", "btl", "tcp,self"}));
}

TEST(MergeOptions, NewHostfileReplacesSavedHost) {
  EXPECT_EQ(crmpirun::merge_options({"-np", "4", "--host", "a:4"}, {"--hostfile", "hf"}),
            (V{"-np", "4", "--hostfile", "hf"}));
  EXPECT_EQ(crmpirun::merge_options({"-H", "a,b", "-np", "2"}, {"-machinefile", "m"}),
            (V{"-np", "2", "-machinefile", "m"}));
}

TEST(MergeOptions, NewHostReplacesSavedHostfile) {
  EXPECT_EQ(crmpirun::merge_options({"--hostfile", "hf", "-np", "2"}, {"--host", "b:2"}),
            (V{"-np", "2", "--host", "b:2"}));
}

TEST(MergeOptions, NoPlacementGivenKeepsTheSavedOne) {
  EXPECT_EQ(crmpirun::merge_options({"--host", "a:2", "-np", "2"}, {"--oversubscribe"}),
            (V{"--host", "a:2", "-np", "2", "--oversubscribe"}));
}
